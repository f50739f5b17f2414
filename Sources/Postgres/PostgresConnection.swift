internal import CLibPQ
import Dispatch
import Foundation
public import Logging
import Synchronization

/// Owns one libpq connection (`PGconn`).
///
/// Every libpq call on it runs on `queue`, a serial dispatch queue of its own, never on Swift's
/// cooperative thread pool: libpq calls block, and a `PGconn` may be used by one thread at a
/// time only (libpq manual §34.21). `run` bridges back to async code with a continuation and
/// maps task cancellation to `PQcancel`.
///
/// `@unchecked Sendable`: the only mutable state is the `PGconn` itself and its statement cache,
/// touched by one thread at a time: from `queue`, or from the task that holds the connection
/// (from the pool) in `prepared(_:waitingOn:)`, which runs nothing on `queue` meanwhile; and
/// `state`, which is behind a `Mutex`. `PQfinish` runs in `deinit`, when no block on `queue` or
/// task can still hold the connection.
public final class PostgresConnection: @unchecked Sendable {
    private let conn: OpaquePointer
    private let queue: DispatchQueue
    private let cancelHandle: CancelHandle
    private let state = Mutex(State())
    /// Confined like `conn`.
    private let statements = StatementCache()
    public let logger: Logger

    private struct State {
        var broken = false
        var running = false
    }

    private init(conn: OpaquePointer, queue: DispatchQueue, logger: Logger) {
        self.conn = conn
        self.queue = queue
        self.cancelHandle = CancelHandle(PQgetCancel(conn))
        self.logger = logger
    }

    deinit { PQfinish(conn) }

    /// Opens a connection from a `postgres://` URL or a libpq conninfo string.
    ///
    /// The session is set to `TimeZone=UTC` and `DateStyle=ISO` so timestamps decode the same
    /// everywhere, and names itself by `application_name` in `pg_stat_activity`.
    /// - Throws: `PostgresError` `.connectionFailed`; `PQfinish` runs on the failed handle too.
    public static func connect(
        _ conninfo: String, applicationName: String = "error-ledger", settings: SessionSettings = SessionSettings(),
        logger: Logger = Logger(label: "postgres")
    ) async throws -> PostgresConnection {
        let queue = DispatchQueue(label: "postgres.connection")
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try open(conninfo, applicationName, settings, queue, logger) })
            }
        }
    }

    /// Opens a connection from a thread the caller owns (a dedicated `Thread`, never the
    /// cooperative pool). See `connect`.
    public static func connectBlocking(
        _ conninfo: String, applicationName: String = "error-ledger", settings: SessionSettings = SessionSettings(),
        logger: Logger = Logger(label: "postgres")
    ) throws(PostgresError) -> PostgresConnection {
        try open(conninfo, applicationName, settings, DispatchQueue(label: "postgres.connection"), logger)
    }

    private static func open(
        _ conninfo: String, _ applicationName: String, _ settings: SessionSettings, _ queue: DispatchQueue, _ logger: Logger
    ) throws(PostgresError) -> PostgresConnection {
        // libpq keeps the last value of a repeated key word, so the caller's URL (expanded from
        // "dbname", last) wins over these defaults.
        let parameters = [("application_name", applicationName), ("connect_timeout", "10")] + settings.connectionParameters + [("dbname", conninfo)]
        let keys = parameters.map(\.0)
        let values = parameters.map(\.1)
        let handle = withCStrings(keys) { keyPointers in
            withCStrings(values) { valuePointers in
                // expand_dbname=1: the "dbname" value may be a URL or conninfo string.
                var k = Array(UnsafeBufferPointer(start: keyPointers, count: keys.count)) + [nil]
                var v = Array(UnsafeBufferPointer(start: valuePointers, count: values.count)) + [nil]
                return k.withUnsafeMutableBufferPointer { kb in
                    v.withUnsafeMutableBufferPointer { vb in PQconnectdbParams(kb.baseAddress, vb.baseAddress, 1) }
                }
            }
        }
        guard let handle else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(handle)
            throw PostgresError(code: .connectionFailed, message: message)
        }
        // libpq's default notice processor prints NOTICEs ("schema already exists, skipping") to
        // stderr; they are not errors, and the service logs through swift-log.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        // Decoding relies on the time zone and date style, whatever the URL's `options` said;
        // durability and timeouts on `settings`.
        let session = PostgresSession(conn: handle, statements: nil)
        do {
            try session.execute(unsafeSQL: settings.setupSQL)
        } catch {
            PQfinish(handle)
            throw PostgresError(code: .connectionFailed, message: error.message, sqlState: error.sqlState)
        }
        return PostgresConnection(conn: handle, queue: queue, logger: logger)
    }

    /// Whether a call found the connection broken; the pool discards such connections.
    public var isBroken: Bool { state.withLock { $0.broken } }

    /// Runs `body` on the connection's own thread and returns its value.
    ///
    /// ```swift
    /// let count = try await connection.run { session in
    ///     try session.query("SELECT count(*) FROM app.items").decode(Int64.self, row: 0, column: 0)
    /// }
    /// ```
    /// If the calling task is cancelled while `body` runs, the running statement is cancelled
    /// with `PQcancel` and fails with `PostgresError` `.cancelled` (SQLSTATE 57014).
    @discardableResult
    public func run<T: Sendable>(_ body: @escaping @Sendable (PostgresSession) throws -> T) async throws -> T {
        try Task.checkCancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.async {
                    continuation.resume(with: Result { try self.runNow(body) })
                }
            }
        } onCancel: {
            if state.withLock({ $0.running }) { cancelHandle.fire() }
        }
    }

    /// Runs `body` synchronously on the calling thread, which must be one the caller owns (a
    /// dedicated `Thread`, never the cooperative pool). For the listener and committer loops.
    @discardableResult
    public func runBlocking<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        try queue.sync { try runNow(body) }
    }

    /// Runs `body` on the calling task with the connection in non-blocking mode (libpq manual
    /// §34.4), for `prepared(_:waitingOn:)`. The caller holds the connection, so no block on
    /// `queue` touches it meanwhile. A statement still in flight when `body` leaves (a wait that
    /// failed, a broken socket) leaves the connection unusable: it is marked broken, and the pool
    /// discards it.
    func withoutBlocking<T>(_ body: (PostgresSession) async throws -> T) async throws -> T {
        state.withLock { $0.running = true }
        defer {
            let blocking = PQsetnonblocking(conn, 0) == 0
            let broken = PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) == PQTRANS_ACTIVE || !blocking
            state.withLock {
                $0.running = false
                $0.broken = $0.broken || broken
            }
        }
        guard PQsetnonblocking(conn, 1) == 0 else {
            throw PostgresError(code: .connectionLost, message: String(cString: PQerrorMessage(conn)))
        }
        return try await body(PostgresSession(conn: conn, statements: statements))
    }

    /// Whether the connection is encrypted (TLS or GSSAPI): `PostgresPool.prepared` does not wait
    /// for such a socket on an event loop.
    var encrypted: Bool { PQsslInUse(conn) != 0 || PQgssEncInUse(conn) != 0 }

    /// Cancels the statement running now, if one is (`PQcancel`, thread-safe).
    func cancelRunning() {
        if state.withLock({ $0.running }) { cancelHandle.fire() }
    }

    private func runNow<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        state.withLock { $0.running = true }
        defer {
            let broken = PQstatus(conn) != CONNECTION_OK
            state.withLock {
                $0.running = false
                $0.broken = $0.broken || broken
            }
        }
        return try body(PostgresSession(conn: conn, statements: statements))
    }
}

/// The statements prepared on one connection, by SQL text. Touched only by whoever holds the
/// connection (its queue in `runNow`, or the task in `withoutBlocking`), so it needs no lock.
final class StatementCache {
    /// Prepared statements kept per connection; past this, all are deallocated and the cache
    /// starts over (the set of statements the ledger prepares is small and fixed).
    static let capacity = 200
    var names: [String: String] = [:]
    private var next = 0

    /// Whether the next statement must wait for `DEALLOCATE ALL` and `removeAll()`.
    var isFull: Bool { names.count >= Self.capacity }

    /// A name no statement of this connection has had.
    func newName() -> String {
        defer { next += 1 }
        return "ledger_\(next)"
    }

    /// After running the statement named for `sql` failed with `error`: whether to prepare it
    /// again and run it once more. A statement the server no longer holds as it was prepared
    /// (its result's shape changed, a migration having replaced a function's or a table's
    /// columns: `0A000`, "cached plan must not change result type"; or it is gone, `DEALLOCATE`,
    /// `DISCARD ALL`: `26000`) is forgotten, so it is prepared anew, now when the connection is
    /// `idle`, or by the caller's retry when the failure aborted its transaction. Kept, it failed
    /// on this connection until the connection closed.
    func forgets(_ sql: String, after error: PostgresError, idle: Bool) -> Bool {
        let stale =
            switch error.sqlState {
            case "26000": true
            case "0A000": error.message.contains("cached plan must not change result type")
            default: false
            }
        guard stale else { return false }
        names[sql] = nil
        return idle
    }
}

/// Wraps a `PGcancel *`. `PQcancel` is safe to call from any thread (libpq manual §34.7).
///
/// `@unchecked Sendable`: the pointer is written once at init and freed once in `deinit`; the
/// only other use is `PQcancel`, which libpq documents as thread-safe.
final class CancelHandle: @unchecked Sendable {
    private let raw: OpaquePointer?

    init(_ raw: OpaquePointer?) { self.raw = raw }

    deinit { if let raw { PQfreeCancel(raw) } }

    func fire() {
        guard let raw else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(raw, &buffer, Int32(buffer.count))
    }
}
