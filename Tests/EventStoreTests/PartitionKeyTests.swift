import EventStore
import Foundation
import Postgres
import Testing
import TestSupport

/// The unique keys of the partitioned store (db/0020): kept by ledger.streams and
/// ledger.event_ids, whatever the stream, the month or the moment.
@Suite("Event store: unique keys across partitions")
struct PartitionKeyTests {
    @Test("an event id taken by an uncommitted append to another stream: the second append waits, then is a replay")
    func eventIDAcrossStreams() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let id = UUID()
        let first = try await PostgresConnection.connect(url)
        try await first.run { s in
            try s.execute(unsafeSQL: "BEGIN")
            try s.query(
                "SELECT outcome FROM ledger.append_one('session-keys-a', NULL, \(#"[{"id":""# + id.uuidString + #"","type":"ChargingErrorReported","data":{"n":1}}]"#)::jsonb)"
            )
        }
        let second = Task { try await store.append(to: "session-keys-b", events: [event(id: id)]) }
        try await Task.sleep(for: .milliseconds(300))
        try await first.run { s in try s.execute(unsafeSQL: "COMMIT") }
        let result = try await second.value
        guard case .alreadyAppended = result else {
            Issue.record("the same id in another stream was stored again: \(result)")
            return
        }
        let stored = try await first.run { s in
            try s.query("SELECT count(*)::int FROM ledger.events WHERE event_id = \(id.uuidString)::uuid").decode(Int.self, row: 0, column: 0)
        }
        #expect(stored == 1)
    }

    @Test("a stream version taken by an uncommitted append, even under REPEATABLE READ: never stored twice")
    func versionUnderRepeatableRead() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let first = try await PostgresConnection.connect(url), second = try await PostgresConnection.connect(url)
        let firstBody = Self.body(UUID()), secondBody = Self.body(UUID())
        try await second.run { s in
            try s.execute(unsafeSQL: "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        }
        try await first.run { s in try s.query("SELECT outcome FROM ledger.append_one('session-keys-rr', NULL, \(firstBody)::jsonb)") }
        // The second transaction's snapshot predates the first append: it computes version 1 too.
        var refused: PostgresError?
        do {
            try await second.run { s in try s.query("SELECT outcome FROM ledger.append_one('session-keys-rr', NULL, \(secondBody)::jsonb)") }
        } catch let error as PostgresError {
            refused = error
        }
        try? await second.run { s in try s.execute(unsafeSQL: "ROLLBACK") }
        guard let error = refused else {
            Issue.record("a second version 1 was accepted")
            return
        }
        #expect(error.sqlState == "23505" || error.sqlState == "40001", "\(error)")
        let versions = try await first.run { s in
            try s.query("SELECT count(*)::int FROM ledger.events WHERE stream_id = 'session-keys-rr'").decode(Int.self, row: 0, column: 0)
        }
        #expect(versions == 1)
    }

    static func body(_ id: UUID) -> String { #"[{"id":""# + id.uuidString + #"","type":"ChargingErrorReported","data":{"n":1}}]"# }
}
