import Foundation
import Glibc
import Postgres
import Synchronization
import Testing
import TestSupport

/// A readiness that waits in `poll` on a thread of its own per wait (the server's is an event
/// loop's epoll); it counts its waits, or fails them all.
private final class PollReadiness: PostgresReadiness {
    let waits = Atomic<Int>(0)
    let failing: Bool

    init(failing: Bool = false) { self.failing = failing }

    func wait(for socket: Int32, writable: Bool) async throws {
        waits.add(1, ordering: .relaxed)
        if failing { throw PollError() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                var entry = pollfd(fd: socket, events: Int16(writable ? POLLOUT : POLLIN), revents: 0)
                _ = poll(&entry, 1, -1)
                continuation.resume()
            }.start()
        }
    }
}

private struct PollError: Error {}

private func backend(_ pool: PostgresPool) async throws -> Int32 {
    try await pool.query("SELECT pg_backend_pid()").decode(Int32.self, row: 0, column: 0)
}

@Suite("Statements sent without blocking (PostgresPool.prepared on a readiness)", .serialized)
struct NonBlockingStatementTests {
    private func pool(_ connections: Int = 1) async throws -> PostgresPool {
        PostgresPool(configuration: .init(url: try await TestDatabase.create(migrated: false), maxConnections: connections))
    }

    @Test("the rows are the blocking path's, parameters and all; the readiness is what it waited on")
    func sameRows() async throws {
        let pool = try await pool()
        defer { pool.close() }
        let query: PostgresQuery = "SELECT g, repeat(\("x"), g), \("a'b\\c") FROM generate_series(1, \(50)) AS g"
        let readiness = PollReadiness()
        let rows = try await PostgresPool.$readiness.withValue(readiness) { try await pool.prepared(query) }
        let blocking = try await pool.prepared(query)
        #expect(readiness.waits.load(ordering: .relaxed) >= 1)
        #expect(rows.rowCount == 50 && blocking.rowCount == 50)
        for row in 0..<50 {
            #expect(try rows.decode(Int.self, row: row, column: 0) == blocking.decode(Int.self, row: row, column: 0))
            #expect(try rows.decode(String.self, row: row, column: 1) == String(repeating: "x", count: row + 1))
            #expect(try rows.decode(String.self, row: row, column: 2) == "a'b\\c")
        }
    }

    @Test("a result larger than a socket's buffer arrives over many reads")
    func largeResult() async throws {
        let pool = try await pool()
        defer { pool.close() }
        let readiness = PollReadiness()
        let result = try await PostgresPool.$readiness.withValue(readiness) {
            try await pool.prepared("SELECT g, repeat('y', 200) FROM generate_series(1, 20000) AS g")
        }
        #expect(result.rowCount == 20000)
        #expect(try result.decode(Int.self, row: 19999, column: 0) == 20000)
        #expect(readiness.waits.load(ordering: .relaxed) > 1)
    }

    @Test("a server error is thrown with its SQLSTATE, and the connection stays in use")
    func serverError() async throws {
        let pool = try await pool()
        defer { pool.close() }
        let readiness = PollReadiness()
        let before = try await backend(pool)
        try await PostgresPool.$readiness.withValue(readiness) {
            let error = try await #require(throws: PostgresError.self) { try await pool.prepared("SELECT 1 / \(0)") }
            #expect(error.sqlState == "22012")
            let again = try await #require(throws: PostgresError.self) { try await pool.prepared("SELECT 1 / \(0)") }
            #expect(again.sqlState == "22012", "the statement prepared by the first call is run again")
            let parse = try await #require(throws: PostgresError.self) { try await pool.prepared("SELEC 1") }
            #expect(parse.sqlState == "42601")
            #expect(try await pool.prepared("SELECT \(41) + 1").decode(Int.self, row: 0, column: 0) == 42)
        }
        #expect(try await backend(pool) == before, "the same connection, not a new one")
        #expect(pool.statistics.open == 1)
    }

    @Test("a prepared statement the server no longer holds as prepared is prepared again, on both paths; inside a transaction the caller's retry does it")
    func staleStatements() async throws {
        let url = try await TestDatabase.create(migrated: false)
        let pool = PostgresPool(configuration: .init(url: url, maxConnections: 1))
        defer { pool.close() }
        let admin = try await PostgresConnection.connect(url)
        try await admin.run { try $0.execute(unsafeSQL: "CREATE TABLE stale (a int); INSERT INTO stale VALUES (1)") }
        let query: PostgresQuery = "SELECT * FROM stale WHERE a = \(1)"
        for waiting in [false, true] {
            func run() async throws -> PostgresResult {
                waiting ? try await PostgresPool.$readiness.withValue(PollReadiness()) { try await pool.prepared(query) } : try await pool.prepared(query)
            }
            let columns = try await run().columnCount
            // A migration changes what the statement returns ("cached plan must not change result type").
            try await admin.run { try $0.execute(unsafeSQL: "ALTER TABLE stale ADD COLUMN c\(columns) int") }
            #expect(try await run().columnCount == columns + 1, "waiting: \(waiting)")
            // The statement is gone from the server (DEALLOCATE, DISCARD ALL).
            try await pool.run { try $0.execute(unsafeSQL: "DEALLOCATE ALL") }
            #expect(try await run().columnCount == columns + 1, "waiting: \(waiting)")
        }
        // Inside a transaction the failure aborted it: thrown, forgotten, and prepared by the retry.
        try await admin.run { try $0.execute(unsafeSQL: "ALTER TABLE stale ADD COLUMN d int") }
        let inTransaction = try await pool.run { session -> PostgresError? in
            try session.execute(unsafeSQL: "BEGIN")
            defer { _ = try? session.execute(unsafeSQL: "ROLLBACK") }
            do {
                _ = try session.prepared(query)
                return nil
            } catch let error as PostgresError {
                return error
            }
        }
        #expect(inTransaction?.sqlState == "0A000")
        #expect(try await pool.prepared(query).columnCount == 4)
    }

    @Test("more statements than the cache keeps: it starts over, and every statement still runs")
    func statementCacheOverflow() async throws {
        let pool = try await pool()
        defer { pool.close() }
        try await PostgresPool.$readiness.withValue(PollReadiness()) {
            for k in 0..<210 {
                let query = PostgresQuery(unsafeSQL: "SELECT $1::int + \(k)", binds: ["1"])
                let value = try await pool.prepared(query).decode(Int.self, row: 0, column: 0)
                #expect(value == k + 1)
            }
            // One connection: the cache started over (DEALLOCATE ALL) instead of growing past it.
            let kept = try await pool.prepared("SELECT count(*) FROM pg_prepared_statements").decode(Int.self, row: 0, column: 0)
            #expect(kept <= 200)
        }
    }

    @Test("a cancelled task cancels its statement (57014), and the connection stays in use")
    func cancellation() async throws {
        let pool = try await pool()
        defer { pool.close() }
        let before = try await backend(pool)
        let started = ContinuousClock.now
        let task = Task {
            try await PostgresPool.$readiness.withValue(PollReadiness()) { try await pool.prepared("SELECT pg_sleep(\(30))") }
        }
        try await eventually("the statement runs") { pool.statistics.idle == 0 }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let error = try await #require(throws: PostgresError.self) { try await task.value }
        #expect(error.code == .cancelled)
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(try await backend(pool) == before)
    }

    @Test("a backend terminated mid-statement breaks the connection, and the pool opens a new one")
    func terminated() async throws {
        let pool = try await pool()
        defer { pool.close() }
        let victim = try await backend(pool)
        let admin = PostgresPool(configuration: .init(url: pool.configuration.url, maxConnections: 1))
        defer { admin.close() }
        let task = Task {
            try await PostgresPool.$readiness.withValue(PollReadiness()) { try await pool.prepared("SELECT pg_sleep(\(30))") }
        }
        try await eventually("the statement runs") {
            (try? await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = \(victim) AND query LIKE 'SELECT pg_sleep%'").rowCount) == 1
        }
        _ = try await admin.query("SELECT pg_terminate_backend(\(victim), 10000)")
        await #expect(throws: PostgresError.self) { try await task.value }
        #expect(try await backend(pool) != victim)
    }

    @Test("COPY is refused on this path, and the connection it left mid-COPY is discarded")
    func copyRefused() async throws {
        let pool = try await pool()
        defer { pool.close() }
        let victim = try await backend(pool)
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresPool.$readiness.withValue(PollReadiness()) { try await pool.prepared("COPY (SELECT 1) TO STDOUT") }
        }
        #expect(error.code == .protocolViolation)
        #expect(try await backend(pool) != victim)
    }

    /// A cluster of its own with TLS on (a self-signed certificate): over TLS, OpenSSL may hold
    /// bytes it took off the socket where epoll cannot see them, so the pool runs such a
    /// connection's statements on its own thread and never waits on the readiness.
    @Test("a connection over TLS runs its statements on its own thread, never waiting on the readiness")
    func tlsKeepsItsThread() async throws {
        let work = try #require(ProcessInfo.processInfo.environment["LEDGER_TEST_WORK"], "run through ./deploy/test")
        let port = try await shell("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let data = "\(work)/tls-\(UUID().uuidString.prefix(8))"
        let common = ". '\(repositoryRoot().path)/deploy/lib/common.sh'"
        _ = try await shell("\(common); ledger_start_cluster '\(data)' \(port)")
        do {
            try await checkTLS(data: data, port: port)
        } catch {
            _ = try? await shell("\(common); ledger_stop_cluster '\(data)'")
            throw error
        }
        _ = try await shell("\(common); ledger_stop_cluster '\(data)'")
    }

    private func checkTLS(data: String, port: String) async throws {
        _ = try await shell(
            """
            openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 -keyout '\(data)/server.key' -out '\(data)/server.crt' 2>/dev/null
            if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres '\(data)/server.key' '\(data)/server.crt'; fi
            chmod 600 '\(data)/server.key'
            psql -X -q 'postgres://postgres@127.0.0.1:\(port)/postgres' -c 'ALTER SYSTEM SET ssl = on' -c 'SELECT pg_reload_conf()'
            """
        )
        let url = "postgres://postgres@127.0.0.1:\(port)/postgres"
        let tls = PostgresPool(configuration: .init(url: url + "?sslmode=require", maxConnections: 1))
        defer { tls.close() }
        let plain = PostgresPool(configuration: .init(url: url + "?sslmode=disable", maxConnections: 1))
        defer { plain.close() }
        try await eventually("TLS is on") { (try? await tls.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").decode(Bool.self, row: 0, column: 0)) == true }

        let readiness = PollReadiness(failing: true)
        let answer = try await PostgresPool.$readiness.withValue(readiness) { try await tls.prepared("SELECT \(41) + 1") }
        #expect(try answer.decode(Int.self, row: 0, column: 0) == 42)
        #expect(readiness.waits.load(ordering: .relaxed) == 0)
        // The same readiness on a plain connection to the same server is waited on (and fails).
        await #expect(throws: PollError.self) {
            try await PostgresPool.$readiness.withValue(readiness) { try await plain.prepared("SELECT \(41) + 1") }
        }
        #expect(readiness.waits.load(ordering: .relaxed) > 0)
    }

    @Test("a wait that fails leaves the connection broken, never handed out half-read")
    func failedWait() async throws {
        let pool = try await pool()
        defer { pool.close() }
        let victim = try await backend(pool)
        await #expect(throws: PollError.self) {
            try await PostgresPool.$readiness.withValue(PollReadiness(failing: true)) { try await pool.prepared("SELECT pg_sleep(\(0.2))") }
        }
        #expect(pool.statistics.open == 0, "discarded")
        #expect(try await backend(pool) != victim)
    }
}
