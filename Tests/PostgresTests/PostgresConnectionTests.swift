import Foundation
import Postgres
import Testing
import TestSupport

@Suite("Postgres connection and pool", .serialized)
struct PostgresConnectionTests {
    @Test("parameters are bound, not pasted, and decode back to their types")
    func parametersRoundTrip() async throws {
        let connection = try await PostgresConnection.connect(try await TestDatabase.create(migrated: false))
        let id = UUID()
        let date = Date(timeIntervalSince1970: 1_732_700_000.123456)
        let hostile = "x'); DROP TABLE users; --"
        let row = try await connection.run { session in
            let result = try session.query(
                "SELECT \(hostile)::text, \(Int64.max)::bigint, \(true)::bool, \(id)::uuid, \(date)::timestamptz, \(nil as String?)::text, \(["a\"b", "c\\d", "e,f", "NULL", "", "é ü"])::text[]"
            )
            return (
                try result.decode(String.self, row: 0, column: 0), try result.decode(Int64.self, row: 0, column: 1),
                try result.decode(Bool.self, row: 0, column: 2), try result.decode(UUID.self, row: 0, column: 3),
                try result.decode(Date.self, row: 0, column: 4), try result.decode(String?.self, row: 0, column: 5),
                try result.decode(String.self, row: 0, column: 6)
            )
        }
        #expect(row.0 == hostile)
        #expect(row.1 == Int64.max)
        #expect(row.2 == true)
        #expect(row.3 == id)
        #expect(abs(row.4.timeIntervalSince(date)) < 0.000_01)
        #expect(row.5 == nil)
        #expect(row.6 == #"{"a\"b","c\\d","e,f","NULL","","é ü"}"#)
    }

    @Test("every connection raises synchronous_commit over a lower database default, keeps a stronger one, and applies its statement timeout")
    func sessionSettings() async throws {
        let url = try await TestDatabase.create(migrated: false)
        let database = String(url.split(separator: "/").last ?? "")
        let admin = try await PostgresConnection.connect(url)
        func show(_ connection: PostgresConnection, _ name: String) async throws -> String {
            try await connection.run { try $0.execute(unsafeSQL: "SHOW \(name)").decode(String.self, row: 0, column: 0) }
        }
        // A role or database default of off (or local) would make acknowledgements non-durable.
        for (configured, expected) in [("off", "on"), ("local", "on"), ("remote_apply", "remote_apply")] {
            try await admin.run { try $0.execute(unsafeSQL: "ALTER DATABASE \(database) SET synchronous_commit = \(configured)") }
            let connection = try await PostgresConnection.connect(url)
            #expect(try await show(connection, "synchronous_commit") == expected, "database default \(configured)")
        }
        let limited = try await PostgresConnection.connect(url, settings: SessionSettings(statementTimeout: .milliseconds(200)))
        #expect(try await show(limited, "statement_timeout") == "200ms")
        let error = try await #require(throws: PostgresError.self) {
            try await limited.run { try $0.execute(unsafeSQL: "SELECT pg_sleep(5)") }
        }
        #expect(error.sqlState == "57014")
        #expect(try await show(admin, "statement_timeout") == "0", "no statement timeout unless asked for")
    }

    @Test("the server's end of every connection has the network timeout too, so a backend whose client vanished does not outlive it")
    func serverSideKeepalives() async throws {
        let url = try await TestDatabase.create(migrated: false)
        let connection = try await PostgresConnection.connect(url, settings: SessionSettings(networkTimeout: .seconds(8)))
        let settings = try await connection.run { session in
            try session.query(
                "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'), current_setting('tcp_keepalives_count'), current_setting('tcp_user_timeout')"
            ).rows.map { row in try (0..<4).map { try row.decode(String.self, column: $0) } }
        }
        // A quarter of the timeout idle, an eighth between probes, three probes; 8 s (8000 ms) unacknowledged.
        #expect(settings.first == ["2", "1", "3", "8000"], "\(settings)")
    }

    @Test("a server error carries SQLSTATE and the constraint's name")
    func serverErrorFields() async throws {
        let connection = try await PostgresConnection.connect(try await TestDatabase.create(migrated: false))
        let error = try await #require(throws: PostgresError.self) {
            try await connection.run { session in
                try session.execute(unsafeSQL: "CREATE TABLE t (k int CONSTRAINT t_k_key UNIQUE)")
                try session.query("INSERT INTO t VALUES (\(1))")
                try session.query("INSERT INTO t VALUES (\(1))")
            }
        }
        #expect(error.code == .server)
        #expect(error.sqlState == "23505")
        #expect(error.constraint == "t_k_key")
        #expect(error.isUniqueViolation)
        #expect(!error.description.contains("t_k_key"), "description stays generic; details are for logs")
    }

    @Test("decoding NULL or the wrong type is a typed error")
    func decodingErrors() async throws {
        let connection = try await PostgresConnection.connect(try await TestDatabase.create(migrated: false))
        let result = try await connection.run { try $0.query("SELECT NULL::int, 'abc'::text") }
        #expect(throws: PostgresError.self) { try result.decode(Int.self, row: 0, column: 0) }
        let error = try #require(throws: PostgresError.self) { try result.decode(Int.self, row: 0, column: 1) }
        #expect(error.code == .decoding)
    }

    @Test("a transaction rolls back when its body throws")
    func transactionRollsBack() async throws {
        let connection = try await PostgresConnection.connect(try await TestDatabase.create(migrated: false))
        struct Boom: Error {}
        let count = try await connection.run { session -> Int in
            try session.execute(unsafeSQL: "CREATE TABLE t (k int)")
            _ = try? session.transaction {
                try session.query("INSERT INTO t VALUES (\(1))")
                throw Boom()
            }
            try session.transaction { try session.query("INSERT INTO t VALUES (\(2))") }
            return try session.query("SELECT count(*) FROM t").decode(Int.self, row: 0, column: 0)
        }
        #expect(count == 1)
    }

    @Test("COPY FROM STDIN loads rows, with escaping")
    func copyIn() async throws {
        let connection = try await PostgresConnection.connect(try await TestDatabase.create(migrated: false))
        let (copied, text) = try await connection.run { session in
            try session.execute(unsafeSQL: "CREATE TABLE t (k int, v text)")
            let copied = try session.copyIn("COPY t (k, v) FROM STDIN") { writer in
                for i in 1...1000 { try writer.write("\(i)\t\(CopyWriter.escape("tab\there\\ \(i)\nline"))\n") }
            }
            let text = try session.query("SELECT v FROM t WHERE k = \(7)").decode(String.self, row: 0, column: 0)
            return (copied, text)
        }
        #expect(copied == 1000)
        #expect(text == "tab\there\\ 7\nline")
    }

    @Test("COPY rows value by value: text escaped, NULL, integers at their limits, UUIDs lower-case")
    func copyRowsValueByValue() async throws {
        let connection = try await PostgresConnection.connect(try await TestDatabase.create(migrated: false))
        let id = UUID(uuidString: "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9")!
        let rows: [(Int64, String?)] = [(0, "tab\there\\ \r\nline"), (-1, nil), (.max, "plain"), (.min, "")]
        let read = try await connection.run { session in
            try session.execute(unsafeSQL: "CREATE TABLE t (k bigint, v text, u uuid, n int)")
            try session.copyIn("COPY t (k, v, u, n) FROM STDIN") { writer in
                for (key, value) in rows {
                    writer.integer(key)
                    writer.text(value)
                    writer.uuid(id)
                    writer.integer(Int?.none)
                    try writer.endRow()
                }
            }
            return try session.query("SELECT k, v, u::text, n IS NULL FROM t ORDER BY k").rows.map {
                (try $0.decode(Int64.self, column: 0), try $0.decode(String?.self, column: 1), try $0.decode(String.self, column: 2), try $0.decode(Bool.self, column: 3))
            }
        }
        #expect(read.map(\.0) == rows.map(\.0).sorted())
        #expect(Dictionary(uniqueKeysWithValues: read.map { ($0.0, $0.1) }) == Dictionary(uniqueKeysWithValues: rows.map { ($0.0, $0.1) }))
        #expect(read.allSatisfy { $0.2 == "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9" && $0.3 })
    }

    @Test("LISTEN/NOTIFY: the listener hears a notification")
    func listenNotify() async throws {
        let url = try await TestDatabase.create(migrated: false)
        let listener = PostgresListener(url: url, channels: ["test_channel"])
        listener.start()
        defer { listener.stop() }
        var iterator = listener.events.makeAsyncIterator()
        #expect(await iterator.next() == .reconnected)
        let connection = try await PostgresConnection.connect(url)
        try await connection.run { try $0.query("SELECT pg_notify('test_channel', \("hello"))") }
        guard case .notification(let heard) = await iterator.next() else {
            Issue.record("expected a notification")
            return
        }
        #expect(heard.channel == "test_channel")
        #expect(heard.payload == "hello")
    }

    @Test("task cancellation cancels the running query with PQcancel")
    func cancellation() async throws {
        let connection = try await PostgresConnection.connect(try await TestDatabase.create(migrated: false))
        let clock = ContinuousClock()
        let started = clock.now
        let task = Task { try await connection.run { try $0.query("SELECT pg_sleep(30)") } }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let error = try await #require(throws: PostgresError.self) { try await task.value }
        #expect(error.code == .cancelled)
        #expect(error.sqlState == "57014")
        #expect(clock.now - started < .seconds(10))
        // The connection is still usable.
        let one = try await connection.run { try $0.query("SELECT 1").decode(Int.self, row: 0, column: 0) }
        #expect(one == 1)
    }

    @Test("blocking libpq calls do not occupy Swift's cooperative pool")
    func blockingCallsOffThePool() async throws {
        // 16 concurrent 0.5 s sleeps on 16 connections. Were they blocking the cooperative pool
        // (as wide as the machine's cores), they would run a few at a time: 16 × 0.5 s / cores.
        let pool = PostgresPool(configuration: .init(url: try await TestDatabase.create(migrated: false), maxConnections: 16))
        defer { pool.close() }
        let clock = ContinuousClock()
        let started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 { group.addTask { try await pool.query("SELECT pg_sleep(0.5)") } }
            try await group.waitForAll()
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let serialized = Duration.milliseconds(500 * 16 / max(1, min(cores, 8)))
        #expect(clock.now - started < max(.seconds(3), serialized))
    }
}
