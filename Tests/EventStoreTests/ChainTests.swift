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
        _ = try await store.append(to: "session-chain-0", events: [event()])
        let later = try await store.verifyChains()
        #expect(later.isIntact && later.events == 10 && later.unsealedEvents == 1)
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
        #expect(report.findings.allSatisfy { "\($0)".contains("\(edited)") || "\($0)".contains("\(middle)") || "\($0)".contains("\(last)") || "\($0)".contains("session-chain-1 version 2") })
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
