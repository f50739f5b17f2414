import Foundation
import Postgres
import Testing
import TestSupport

@Suite("Postgres pool", .serialized)
struct PostgresPoolTests {
    @Test("the pool never opens more than its bound, and every caller is served")
    func bounded() async throws {
        let pool = PostgresPool(configuration: .init(url: try await TestDatabase.create(migrated: false), maxConnections: 3))
        defer { pool.close() }
        let peak = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    try await pool.query("SELECT pg_sleep(0.05)")
                    return pool.statistics.open
                }
            }
            var peak = 0
            for try await open in group { peak = max(peak, open) }
            return peak
        }
        #expect(peak <= 3)
        #expect(pool.statistics.open <= 3)
        #expect(pool.statistics.waiting == 0)
    }

    @Test("a caller that cannot get a connection in time gets a typed, retryable timeout")
    func acquireTimeout() async throws {
        let pool = PostgresPool(configuration: .init(url: try await TestDatabase.create(migrated: false), maxConnections: 1, acquireTimeout: .milliseconds(200)))
        defer { pool.close() }
        async let holder: Void = { _ = try await pool.query("SELECT pg_sleep(1)") }()
        try await Task.sleep(for: .milliseconds(100))
        let error = try await #require(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error.code == .poolTimeout)
        #expect(error.isRetryable)
        try await holder
    }

    @Test("a query on a dead connection is a typed retryable error, and the pool replaces the connection")
    func deadConnectionIsReplaced() async throws {
        let url = try await TestDatabase.create(migrated: false)
        let pool = PostgresPool(configuration: .init(url: url, maxConnections: 1))
        defer { pool.close() }
        let pid = try await pool.run { $0.backendPID }
        let killer = try await PostgresConnection.connect(url)
        try await killer.run { try $0.query("SELECT pg_terminate_backend(\(Int(pid)))") }
        try await Task.sleep(for: .milliseconds(100))

        let error = try await #require(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error.code == .connectionLost)
        #expect(error.isRetryable)
        #expect(pool.statistics.open == 0, "the broken connection was discarded")

        let newPID = try await pool.run { $0.backendPID }
        #expect(newPID != pid)
        let one = try await pool.run { try $0.query("SELECT 1").decode(Int.self, row: 0, column: 0) }
        #expect(one == 1)
    }

    @Test("a bad URL fails with connectionFailed, not a crash")
    func badURL() async throws {
        let pool = PostgresPool(configuration: .init(url: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", maxConnections: 1))
        let error = try await #require(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error.code == .connectionFailed)
        #expect(pool.statistics.open == 0)
    }
}
