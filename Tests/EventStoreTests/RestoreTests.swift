import EventStore
import Foundation
import Postgres
import Testing
import TestSupport

@Suite("Event store: restore into a new cluster", .serialized)
struct RestoreTests {
    /// A restored store's transaction ids are ahead of the new cluster's counter. Without the
    /// realigned clock, the readers' horizon would sit below every restored event (stalled
    /// readers), and new events would sort before the restored ones.
    @Test("events copied in with transaction ids ahead of this cluster are read, and new ones sort after them")
    func restoredIdsAhead() async throws {
        let url = try await TestDatabase.create()
        let connection = try await PostgresConnection.connect(url)
        let ahead = try await connection.run { session -> UInt64 in
            let now = try session.query("SELECT pg_current_xact_id()::text::bigint").decode(Int64.self, row: 0, column: 0)
            let ahead = UInt64(now + 5_000_000)
            // What a restore does: rows arrive with the source cluster's transaction ids.
            try session.copyIn("COPY ledger.events (stream_id, stream_version, event_id, event_type, data, metadata, transaction_id) FROM STDIN") { writer in
                for version in 1...3 {
                    try writer.write("session-restored\t\(version)\t\(UUID())\tChargingProgressed\t{}\t{}\t\(ahead)\n")
                }
            }
            return ahead
        }

        // Before realignment a reader is stuck below the restored events.
        let stuck = try await connection.run { session in
            try session.query("SELECT count(*) FROM ledger.events WHERE transaction_id < ledger.read_horizon()").decode(Int.self, row: 0, column: 0)
        }
        #expect(stuck == 0)

        let store = try await EventStore.open(configuration: .init(url: url))
        defer { store.close() }
        let restored = try await readAll(store, after: .start, count: 3)
        #expect(restored.count == 3)
        #expect(restored.allSatisfy { $0.transactionID == ahead })

        _ = try await store.append(to: "session-new", events: [event()])
        let next = try await readAll(store, after: try #require(restored.last).cursor, count: 1)
        #expect(next.map(\.streamID) == ["session-new"])
        #expect(try #require(next.first).transactionID > ahead)
        #expect(try await store.realignTransactionClock() == nil, "realigning again changes nothing")
    }

    /// The real thing: pg_dump of a store, pg_restore into a freshly initialised cluster whose
    /// transaction counter is far behind, and the store keeps working there.
    @Test("pg_dump and pg_restore into a new cluster: the store keeps working")
    func realDumpAndRestore() async throws {
        let environment = ProcessInfo.processInfo.environment
        let bin = try #require(environment["LEDGER_TEST_PG_BIN"], "run through ./deploy/test")
        let work = try #require(environment["LEDGER_TEST_WORK"], "run through ./deploy/test")

        // The source: a store with events, on a cluster that has used many transaction ids.
        let (source, sourceURL) = try await makeStore()
        let burner = try await PostgresConnection.connect(sourceURL)
        try await burner.run { session in
            for _ in 0..<3000 { try session.query("SELECT pg_current_xact_id()") }
        }
        for _ in 0..<5 { _ = try await source.append(to: newStream(), events: [event(), event()]) }
        // Sealed, with its head recorded "outside": the restored copy must verify against it.
        try await eventually("every event sealed") {
            try await source.seal()
            return try await source.verifyChains().sealedEvents == 10
        }
        let head = try #require(try await source.verifyChains().head)
        source.close()

        // The target: a brand-new cluster.
        let port = try await shell("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'").trimmingCharacters(in: .whitespacesAndNewlines)
        let data = "\(work)/restore-\(UUID().uuidString.prefix(8))"
        let root = repositoryRoot().path
        _ = try await shell(". '\(root)/deploy/lib/common.sh'; ledger_start_cluster '\(data)' \(port)")
        let stop = ". '\(root)/deploy/lib/common.sh'; ledger_stop_cluster '\(data)'"
        do {
            try await checkRestore(into: "postgres://postgres@127.0.0.1:\(port)/postgres", from: sourceURL, bin: bin, head: head)
        } catch {
            _ = try? await shell(stop)
            throw error
        }
        _ = try await shell(stop)
    }

    private func checkRestore(into admin: String, from sourceURL: String, bin: String, head: ChainVerification.Head) async throws {
        let targetURL = TestDatabase.url(forDatabase: "restored", admin: admin)
        _ = try await shell("'\(bin)/psql' -X -q '\(admin)' -c 'CREATE DATABASE restored'")
        _ = try await shell("'\(bin)/pg_dump' --format=custom --no-owner --no-privileges '\(sourceURL)' | '\(bin)/pg_restore' --no-owner --no-privileges --exit-on-error -d '\(targetURL)'")

        let target = try await EventStore.open(configuration: .init(url: targetURL))
        defer { target.close() }
        let all = try await readAll(target, after: .start, count: 10)
        #expect(all.count == 10)
        let stream = newStream()
        _ = try await target.append(to: stream, events: [event()])
        let after = try await readAll(target, after: try #require(all.last).cursor, count: 1)
        #expect(after.map(\.streamID) == [stream], "a new event sorts after every restored one")
        // The hashes and seals came along: the copy verifies against the head recorded before the
        // dump, and the new event chains on.
        let report = try await EventStore.verifyChains(url: targetURL, anchors: [head])
        #expect(report.isIntact && report.events == 11 && report.sealedEvents == 10, "\(report.findings)")
    }
}