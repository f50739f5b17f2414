import EventStore
import Foundation
import Postgres
import Testing
import TestSupport

@Suite("Event store: guarantees the database enforces", .serialized)
struct DatabaseGuaranteeTests {
    @Test("UPDATE, DELETE and TRUNCATE fail even for the table owner")
    func appendOnlyForOwner() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        _ = try await store.append(to: newStream(), events: [event()])
        let owner = try await PostgresConnection.connect(url)
        for statement in ["UPDATE ledger.events SET data = '{}'", "DELETE FROM ledger.events", "TRUNCATE ledger.events"] {
            let error = try await #require(throws: PostgresError.self, "\(statement)") {
                try await owner.run { try $0.execute(unsafeSQL: statement) }
            }
            #expect(error.sqlState == "LE001", "\(statement)")
            #expect(error.message.contains("append-only"))
        }
        #expect(try await count(url) == 1)
    }

    @Test("the service role may read and append through the append functions, and nothing more: no INSERT of its own")
    func serviceRole() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        _ = try await store.append(to: newStream(), events: [event()])
        let connection = try await PostgresConnection.connect(url)
        let stream = newStream()
        let appended = try await connection.run { session -> Int in
            try session.execute(unsafeSQL: "SET ROLE ledger_service")
            let json = #"[{"stream":"\#(stream)","expected":0,"events":[{"id":"\#(UUID())","type":"ChargingStarted","data":{},"metadata":{}}]}]"#
            _ = try session.query("SELECT * FROM ledger.append_batch(\(json)::jsonb)")
            return try session.query("SELECT count(*) FROM ledger.events").decode(Int.self, row: 0, column: 0)
        }
        #expect(appended == 2)
        // A row of its own making could carry another transaction id, or a position set with
        // OVERRIDING SYSTEM VALUE, and land behind a reader's checkpoint.
        let forged = [
            "INSERT INTO ledger.events (stream_id, stream_version, event_id, event_type, data, metadata, transaction_id) VALUES ('s', 1, gen_random_uuid(), 't', '{}', '{}', '1'::xid8)",
            "INSERT INTO ledger.events (global_position, stream_id, stream_version, event_id, event_type, data, metadata) OVERRIDING SYSTEM VALUE VALUES (1000000, 's', 1, gen_random_uuid(), 't', '{}', '{}')",
        ]
        for statement in forged + ["UPDATE ledger.events SET data = '{}'", "DELETE FROM ledger.events", "CREATE TABLE ledger.x (k int)", "INSERT INTO ledger.transaction_epochs (offset_value, reason) VALUES (1, 'x')"] {
            let error = try await #require(throws: PostgresError.self, "\(statement)") {
                try await connection.run { try $0.execute(unsafeSQL: statement) }
            }
            #expect(error.sqlState == "42501", "\(statement): \(error.debugDescription)")
        }
    }

    @Test("the database's rules for a stream id and an event type hold to the character (db/0021 checks them without bounded regular expressions)")
    func streamIDAndTypeRules() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let connection = try await PostgresConnection.connect(url)
        let suffix200 = String(repeating: "x", count: 199) + "é"
        let cases: [(stream: String, type: String, accepted: Bool)] = [
            ("session-" + suffix200, "ChargingErrorReported", true),
            ("session-" + suffix200 + "y", "ChargingErrorReported", false),
            ("erasures-2026-12", "A", true),
            ("session-a-" + String(repeating: "b", count: 198), "A", true),
            ("session-a-" + String(repeating: "b", count: 199), "A", false),
            ("session-", "A", false),
            ("session", "A", false),
            ("Session-x", "A", false),
            ("session-a b", "A", false),
            ("session-a\tb", "A", false),
            ("-x", "A", false),
            (newStream(), "A" + String(repeating: "b", count: 99), true),
            (newStream(), "A" + String(repeating: "b", count: 100), false),
            (newStream(), "aType", false),
            (newStream(), "Type1", false),
            (newStream(), "", false),
        ]
        for (stream, type, accepted) in cases {
            let events = #"[{"id":""# + UUID().uuidString + #"","type":""# + type + #"","data":{}}]"#
            do {
                try await connection.run { try $0.query("SELECT outcome FROM ledger.append_one(\(stream), NULL, \(events)::jsonb)") }
                #expect(accepted, "stored: \(stream) / \(type)")
            } catch let error as PostgresError {
                #expect(!accepted, "refused: \(stream) / \(type): \(error.debugDescription)")
                #expect(error.sqlState == "23514", "\(stream) / \(type): \(error.debugDescription)")
            }
        }
        #expect(try await count(url) == cases.filter(\.accepted).count)
    }

    @Test("one NOTIFY per appending transaction, however many events it holds, and none for a batch that appends nothing")
    func notifyOncePerTransaction() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let listener = PostgresListener(url: url, channels: ["ledger_events"])
        listener.start()
        defer { listener.stop() }
        var heard = listener.events.makeAsyncIterator()
        #expect(await heard.next() == .reconnected)
        let requests = (0..<50).map { _ in AppendRequest(stream: newStream(), events: [event(), event()]) }
        _ = try await store.appendBatch(requests)
        guard case .notification(let notification) = await heard.next() else {
            Issue.record("no notification")
            return
        }
        #expect(notification.channel == "ledger_events")
        // Another transaction, another notification: exactly one more, not 100.
        _ = try await store.append(to: newStream(), events: [event()])
        guard case .notification = await heard.next() else {
            Issue.record("no second notification")
            return
        }
        // A batch that appends nothing (replays and a conflict) notifies no one.
        let replayed = try await store.appendBatch(requests + [AppendRequest(stream: requests[0].stream, expected: .noStream, events: [event()])])
        #expect(try replayed.dropLast().allSatisfy { if case .alreadyAppended = try $0.get() { true } else { false } })
        #expect(try replayed.last?.get() == .conflict(expected: .noStream, actual: 2))
        let connection = try await PostgresConnection.connect(url)
        try await connection.run { try $0.query("SELECT pg_notify('ledger_events', 'marker')") }
        guard case .notification(let marker) = await heard.next() else {
            Issue.record("no marker")
            return
        }
        #expect(marker.payload == "marker", "nothing else was queued between the appends and the marker")
    }

    @Test("the age of the oldest open transaction is visible")
    func oldestOpenTransaction() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let holder = try await PostgresConnection.connect(url)
        try await holder.run { session in
            try session.execute(unsafeSQL: "BEGIN")
            try session.query("SELECT pg_current_xact_id()")
        }
        try await Task.sleep(for: .milliseconds(1200))
        let age = try #require(try await store.oldestOpenTransactionAge())
        #expect(age >= .seconds(1))
        try await holder.run { try $0.execute(unsafeSQL: "COMMIT") }
    }
}
