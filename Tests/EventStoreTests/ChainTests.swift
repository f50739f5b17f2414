import EventStore
import Foundation
import Postgres
import Testing
import TestSupport

/// Tamper evidence (db/0017): what the database owner can do with the triggers disabled, and
/// what `verifyChains` then names.
@Suite("Event store: hash chains and seals")
struct ChainTests {
    /// Three streams of three events, the second appended in one call (one INSERT chains them),
    /// all sealed.
    func sealedStore() async throws -> (EventStore, String, [String: [Int64]]) {
        let (store, url) = try await makeStore()
        var positions: [String: [Int64]] = [:]
        for index in 0..<3 {
            let stream = "session-chain-\(index)"
            if index == 1 {
                let range = try #require(try await store.append(to: stream, events: [event(), event(), event()]).range)
                positions[stream] = Array(range.firstPosition...range.lastPosition)
            } else {
                for _ in 0..<3 {
                    let range = try #require(try await store.append(to: stream, events: [event()]).range)
                    positions[stream, default: []].append(range.firstPosition)
                }
            }
        }
        // The horizon is the cluster's: other tests' open transactions hold it back a moment.
        try await eventually("every event sealed") {
            try await store.seal()
            return try await store.verifyChains().sealedEvents == 9
        }
        return (store, url, positions)
    }

    /// Runs `statements` as the owner with the append-only trigger set aside.
    func tamper(_ url: String, _ statements: String) async throws {
        let owner = try await PostgresConnection.connect(url)
        try await owner.run { session in
            try session.execute(
                unsafeSQL: """
                    ALTER TABLE ledger.events DISABLE TRIGGER events_reject_update_delete;
                    \(statements);
                    ALTER TABLE ledger.events ENABLE TRIGGER events_reject_update_delete
                    """
            )
        }
    }

    @Test("an untouched store verifies: every event matches its hash, every seal its events; new events wait for the next seal")
    func intact() async throws {
        let (store, _, _) = try await sealedStore()
        defer { store.close() }
        let report = try await store.verifyChains()
        #expect(report.isIntact, "\(report.findings)")
        #expect(report.events == 9 && report.sealedEvents == 9 && report.seals >= 1 && report.unsealedEvents == 0)
        #expect(report.head?.chain.count == 64)
        #expect(try await store.unsealedAge() == nil, "all sealed")
        _ = try await store.append(to: "session-chain-0", events: [event()])
        let later = try await store.verifyChains()
        #expect(later.isIntact && later.events == 10 && later.unsealedEvents == 1 && later.oldestUnsealedAt != nil)
        let age = try #require(try await store.unsealedAge(), "the new event is not sealed")
        #expect(age >= .zero && age < .seconds(60))
    }

    @Test("an edited row and a deleted one are both named; so is the last event of a stream deleted, which only a seal shows")
    func editedAndDeleted() async throws {
        let (store, url, positions) = try await sealedStore()
        defer { store.close() }
        let edited = positions["session-chain-0"]![1], middle = positions["session-chain-1"]![1], last = positions["session-chain-2"]![2]
        try await tamper(
            url,
            """
            UPDATE ledger.events SET data = '{"n":2}' WHERE global_position = \(edited);
            DELETE FROM ledger.events WHERE global_position IN (\(middle), \(last))
            """
        )
        let report = try await store.verifyChains()
        #expect(!report.isIntact)
        let findings = Set(report.findings)
        #expect(findings.contains(.hashMismatch(position: edited, stream: "session-chain-0", version: 2)), "\(report.findings)")
        #expect(findings.contains(.versionsMissing(stream: "session-chain-1", versions: 2...2, before: positions["session-chain-1"]![2])))
        #expect(findings.contains { if case .sealedEventMissing(middle, _) = $0 { true } else { false } })
        #expect(findings.contains { if case .sealedEventMissing(last, _) = $0 { true } else { false } }, "the stream chain cannot see a lost tail")
        let after = positions["session-chain-1"]![2]
        #expect(findings.contains(.hashMismatch(position: after, stream: "session-chain-1", version: 3)), "it chained from the deleted one")
        #expect(report.findings.count == 5, "nothing else: \(report.findings)")
    }

    @Test("a row rewritten with a recomputed hash breaks the next event's chain and its seal")
    func rewrittenWithHash() async throws {
        let (store, url, positions) = try await sealedStore()
        defer { store.close() }
        let target = positions["session-chain-2"]![0]
        try await tamper(
            url,
            """
            UPDATE ledger.events SET data = '{"n":3}' WHERE global_position = \(target);
            UPDATE ledger.events SET hash = ledger.event_hash(NULL, stream_id, stream_version, event_id, event_type, data, metadata,
                                                             transaction_id, global_position, recorded_at)
             WHERE global_position = \(target)
            """
        )
        let report = try await store.verifyChains()
        let findings = Set(report.findings)
        #expect(findings.contains(.hashMismatch(position: positions["session-chain-2"]![1], stream: "session-chain-2", version: 2)), "\(report.findings)")
        #expect(findings.contains { if case .sealMismatch = $0 { true } else { false } })
        #expect(!findings.contains(.hashMismatch(position: target, stream: "session-chain-2", version: 1)), "it matches its own new hash")
    }

    @Test("a history rewritten whole, hashes and seals, verifies by itself; against a head recorded before, it does not")
    func anchors() async throws {
        let (store, url, positions) = try await sealedStore()
        defer { store.close() }
        let head = try #require(try await store.verifyChains().head)
        #expect(ChainVerification.Head(head.text) == head)
        let target = positions["session-chain-0"]![1]
        func rehash(_ version: Int) -> String {
            """
            UPDATE ledger.events e
               SET hash = ledger.event_hash(p.hash, e.stream_id, e.stream_version, e.event_id, e.event_type, e.data, e.metadata,
                                            e.transaction_id, e.global_position, e.recorded_at)
              FROM ledger.events p
             WHERE e.stream_id = 'session-chain-0' AND e.stream_version = \(version) AND p.stream_id = e.stream_id AND p.stream_version = \(version - 1)
            """
        }
        try await tamper(
            url,
            """
            UPDATE ledger.events SET data = '{"n":9}' WHERE global_position = \(target);
            \(rehash(2));
            \(rehash(3));
            ALTER TABLE ledger.seals DISABLE TRIGGER seals_reject_update_delete;
            DELETE FROM ledger.seals;
            ALTER TABLE ledger.seals ENABLE TRIGGER seals_reject_update_delete;
            ALTER TABLE ledger.seals ALTER COLUMN seal RESTART WITH 1;
            SELECT ledger.seal(50000)
            """
        )
        let alone = try await store.verifyChains()
        #expect(alone.isIntact, "a whole rewrite is consistent in itself: \(alone.findings)")
        let anchored = try await store.verifyChains(anchors: [head])
        #expect(!anchored.isIntact)
        #expect(
            anchored.findings.contains {
                switch $0 {
                case .anchorMismatch(head.seal, head.chain, _), .anchorMissing(head.seal): true
                default: false
                }
            },
            "\(anchored.findings)"
        )
        #expect(ChainVerification.Head("1:xyz") == nil && ChainVerification.Head("0:" + String(repeating: "a", count: 64)) == nil)
    }

    @Test("a seal taken from a stale view of the seals fails rather than sealing events twice; a busy seal returns at once")
    func concurrentSeals() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        for _ in 0..<4 { _ = try await store.append(to: newStream(), events: [event()]) }
        let first = try await PostgresConnection.connect(url), second = try await PostgresConnection.connect(url)
        try await eventually("the events below the horizon") {
            try await first.run { try $0.query("SELECT count(*) FROM ledger.events WHERE transaction_id < ledger.read_horizon()").decode(Int.self, row: 0, column: 0) } == 4
        }
        try await first.run { session in
            try session.execute(unsafeSQL: "BEGIN")
            #expect(try session.query("SELECT ledger.seal(1)").decode(Int.self, row: 0, column: 0) == 1)
        }
        // The seal is taken: another returns 0 at once instead of waiting (the projector calls it
        // between its batches).
        #expect(try await second.run { try $0.query("SELECT ledger.seal(1)").decode(Int.self, row: 0, column: 0) } == 0)
        // A REPEATABLE READ snapshot from before the first seal commits.
        try await second.run { session in
            try session.execute(unsafeSQL: "BEGIN ISOLATION LEVEL REPEATABLE READ")
            _ = try session.query("SELECT count(*) FROM ledger.seals")
        }
        try await first.run { try $0.execute(unsafeSQL: "COMMIT") }
        let stale = try await #require(throws: PostgresError.self) {
            try await second.run { try $0.query("SELECT ledger.seal(1)") }
        }
        #expect(stale.sqlState == "23505", "\(stale)")
        try await second.run { try $0.execute(unsafeSQL: "ROLLBACK") }
        try await store.seal()
        let report = try await store.verifyChains()
        #expect(report.isIntact && report.sealedEvents == 4 && report.seals == 2, "\(report)")
    }

    @Test("migrating a store with history: every stored event gets its hash, long streams and gaps included, and it verifies")
    func migrationOfHistory() async throws {
        let url = try await TestDatabase.create(migrated: false)
        let all = try Migrator(directory: repositoryRoot().appendingPathComponent("db"))
        let connection = try await PostgresConnection.connect(url)
        _ = try await Migrator(migrations: all.migrations.filter { $0.version < 17 }).migrate(on: connection)
        try await connection.run { session in
            // A long stream (a day's quarantine), two short ones, and a gap an early version of
            // the service could leave (it could insert rows of its own then).
            let events = (0..<40).map { _ in #"{"id":"\#(UUID())","type":"NotificationRejected","data":{"n":1},"metadata":{}}"# }
            _ = try session.query("SELECT * FROM ledger.append_batch(\("[{\"stream\":\"quarantine-2026-12-01\",\"expected\":0,\"events\":[" + events.joined(separator: ",") + "]}]")::jsonb)")
            for stream in ["session-a", "session-b"] {
                _ = try session.query(
                    "SELECT * FROM ledger.append_batch(\(#"[{"stream":"\#(stream)","expected":0,"events":[{"id":"\#(UUID())","type":"ChargingStarted","data":{},"metadata":{}}]}]"#)::jsonb)"
                )
            }
            try session.execute(
                unsafeSQL: "INSERT INTO ledger.events (stream_id, stream_version, event_id, event_type, data) VALUES ('session-a', 3, gen_random_uuid(), 'ChargingEnded', '{}')"
            )
        }
        let applied = try await all.migrate(on: connection)
        #expect(applied.contains { $0.hasPrefix("0017") })
        let report = try await EventStore.verifyChains(url: url)
        #expect(report.events == 43)
        #expect(report.findings == [.versionsMissing(stream: "session-a", versions: 2...2, before: report.findings.first.flatMap { if case .versionsMissing(_, _, let before) = $0 { before } else { nil } } ?? -1)], "only the old gap: \(report.findings)")
        // New appends chain on.
        try await connection.run { session in
            _ = try session.query(
                "SELECT * FROM ledger.append_batch(\(#"[{"stream":"session-a","expected":3,"events":[{"id":"\#(UUID())","type":"ChargingEnded","data":{},"metadata":{}}]}]"#)::jsonb)"
            )
        }
        #expect(try await EventStore.verifyChains(url: url).findingCount == 1)
    }

    @Test("an event inserted behind a seal, triggers or not, is named")
    func insertedBehindSeal() async throws {
        let (store, url, positions) = try await sealedStore()
        defer { store.close() }
        let first = positions["session-chain-0"]![0]
        let owner = try await PostgresConnection.connect(url)
        let forged = try await owner.run { session in
            try session.query(
                """
                INSERT INTO ledger.events (stream_id, stream_version, event_id, event_type, data, transaction_id)
                SELECT 'session-forged', 1, gen_random_uuid(), 'ChargingStarted', '{}', transaction_id FROM ledger.events
                 WHERE global_position = \(first)
                RETURNING global_position
                """
            ).decode(Int64.self, row: 0, column: 0)
        }
        let report = try await store.verifyChains()
        #expect(report.findings.contains { if case .eventOutsideSeal(forged, _) = $0 { true } else { false } }, "\(report.findings)")
    }
}
