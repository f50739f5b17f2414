internal import CLibPQ
import Synchronization

/// Suspends a task until a socket is ready, holding no thread while it waits: an event loop's
/// epoll (`HTTPServer`'s `SocketReadiness`). With one, a statement is sent and its result read
/// from the task itself, without the hand-off to the connection's own thread and back.
public protocol PostgresReadiness: Sendable {
    /// Returns when `socket` is readable (or, with `writable`, writable), or has failed or hung
    /// up. Throws when it can no longer tell (its loop has ended).
    func wait(for socket: Int32, writable: Bool) async throws
}

extension PostgresPool {
    /// The readiness the current task's statements may wait on, if any (set by the HTTP server's
    /// composition for the handlers it runs on its event loops); `prepared` uses it.
    @TaskLocal public static var readiness: (any PostgresReadiness)?

    /// Runs one prepared statement (see `PostgresSession.prepared`) on a pooled connection.
    ///
    /// On a task with a `readiness`, it is sent and its result read without blocking a thread:
    /// the task waits on the readiness (an event loop's epoll) instead of a thread of the
    /// connection waiting in `poll`, which saves two thread wake-ups per statement. Elsewhere
    /// it runs as `run { try $0.prepared(query) }`.
    public func prepared(_ query: PostgresQuery) async throws -> PostgresResult {
        guard let readiness = Self.readiness else { return try await run { try $0.prepared(query) } }
        return try await withConnection { connection in
            // Over TLS (or GSSAPI encryption), the library below libpq may already hold bytes it
            // took off the socket, which epoll cannot see: a wait could outlast the answer. Such
            // a connection waits on its own thread, as `run` does.
            guard !connection.encrypted else { return try await connection.run { try $0.prepared(query) } }
            return try await connection.prepared(query, waitingOn: readiness)
        }
    }
}

extension PostgresConnection {
    /// `PostgresSession.prepared`, from the calling task: the connection in non-blocking mode
    /// while the statement runs, every wait a wait on `readiness`. The caller holds the
    /// connection (from the pool), so nothing runs on its queue meanwhile. Cancelling the task
    /// cancels the statement with `PQcancel`, which then fails with `.cancelled`, as in `run`.
    func prepared(_ query: PostgresQuery, waitingOn readiness: any PostgresReadiness) async throws -> PostgresResult {
        try Task.checkCancellation()
        return try await withTaskCancellationHandler {
            try await withoutBlocking { session in
                guard let statements = session.statements else { throw PostgresError(code: .protocolViolation, message: "no statement cache") }
                func run(_ name: String) async throws -> PostgresResult {
                    let sent = withCStrings(query.binds) { values in
                        PQsendQueryPrepared(session.conn, name, Int32(query.binds.count), values, nil, nil, 0)
                    }
                    return try await session.awaitResult(sent: sent, readiness)
                }
                // As `PostgresSession.prepared`: a stale statement is prepared again, outside a transaction.
                if let known = statements.names[query.sql] {
                    do {
                        return try await run(known)
                    } catch let error as PostgresError {
                        guard statements.forgets(query.sql, after: error, idle: PQtransactionStatus(session.conn) == PQTRANS_IDLE) else {
                            throw error
                        }
                    }
                }
                if statements.isFull {
                    _ = try await session.awaitResult(sent: PQsendQuery(session.conn, "DEALLOCATE ALL"), readiness)
                    statements.names.removeAll()
                }
                let name = statements.newName()
                let sent = PQsendPrepare(session.conn, name, query.sql, Int32(query.binds.count), nil)
                _ = try await session.awaitResult(sent: sent, readiness)
                statements.names[query.sql] = name
                return try await run(name)
            }
        } onCancel: {
            cancelRunning()
        }
    }
}

extension PostgresSession {
    /// After a `PQsend…` that returned `sent`: flushes the statement out, then reads until its
    /// last result (waiting on `readiness`, never blocking) and returns the first, checked.
    func awaitResult(sent: Int32, _ readiness: any PostgresReadiness) async throws -> PostgresResult {
        guard sent == 1 else { throw lastError(nil) }
        let socket = PQsocket(conn)
        guard socket >= 0 else { throw lastError(nil) }
        // PQflush: 0 when everything is sent, 1 when the socket's buffer is full; what the server
        // sends meanwhile is taken in, so neither side waits on the other (libpq manual §34.4).
        while true {
            let flushed = PQflush(conn)
            if flushed == 0 { break }
            guard flushed == 1 else { throw lastError(nil) }
            try await readiness.wait(for: socket, writable: true)
            guard PQconsumeInput(conn) == 1 else { throw lastError(nil) }
        }
        var first: OpaquePointer?
        do {
            while true {
                while PQisBusy(conn) == 1 {
                    try await readiness.wait(for: socket, writable: false)
                    guard PQconsumeInput(conn) == 1 else { throw lastError(nil) }
                }
                guard let next = PQgetResult(conn) else { break }
                // COPY hands out a new result on every call, never the end: not a statement for
                // this path (the connection, mid-COPY, is left broken).
                let status = PQresultStatus(next)
                guard status != PGRES_COPY_IN, status != PGRES_COPY_OUT, status != PGRES_COPY_BOTH else {
                    PQclear(next)
                    throw PostgresError(code: .protocolViolation, message: "COPY is not run without blocking; use PostgresSession.copyIn")
                }
                if first == nil { first = next } else { PQclear(next) }
            }
        } catch {
            if let first { PQclear(first) }
            throw error
        }
        return try check(first)
    }
}
