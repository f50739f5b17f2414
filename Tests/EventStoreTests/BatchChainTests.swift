import EventStore
import Foundation
import Postgres
import Testing
import TestSupport

/// The append functions chain a batch's events themselves (db/0023): heads locked once, in
/// stream order; hashes computed in one pass; events, ids and heads written a statement each.
@Suite("Event store: appends chained by the batch")
struct BatchChainTests {
    @Test("a batch with a stream several times, several events per append, new and existing streams: consecutive versions, and it verifies")
    func chainsWithinABatch() async throws {
        let (store, _) = try await makeStore()
        defer { store.close() }
        let old = newStream(), fresh = newStream(), other = newStream()
        _ = try await store.append(to: old, events: [event(), event()])
        let results = try await store.appendBatch([
            AppendRequest(stream: fresh, expected: .noStream, events: [event(), event(), event()]),
            AppendRequest(stream: old, expected: .exact(2), events: [event()]),
            AppendRequest(stream: fresh, expected: .exact(3), events: [event(), event()]),
            AppendRequest(stream: other, events: [event()]),
            AppendRequest(stream: old, expected: .exact(2), events: [event()]),  // a conflict: the second append made it 3
            AppendRequest(stream: old, events: [event(), event()]),
        ])
        let outcomes = try results.map { try $0.get() }
        #expect(outcomes.map(\.range?.streamVersion) == [3, 3, 5, 1, nil, 5])
        #expect(outcomes[4] == .conflict(expected: .exact(2), actual: 3))
        // Positions follow the batch's order, as the row-by-row insert gave them.
        let positions = outcomes.compactMap(\.range).flatMap { [$0.firstPosition, $0.lastPosition] }
        #expect(positions == positions.sorted())
        for (stream, count) in [(old, 5), (fresh, 5), (other, 1)] {
            #expect(try await store.readStream(stream).map(\.streamVersion) == Array(1...count))
        }
        let report = try await store.verifyChains()
        #expect(report.isIntact, "\(report.findings)")
        #expect(report.events == 11)
    }

    @Test("two batches over the same streams in opposite orders never deadlock: heads are locked in stream order")
    func noDeadlock() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let a = "session-order-a-" + UUID().uuidString.lowercased(), b = "session-order-b-" + UUID().uuidString.lowercased()
        _ = try await store.append(to: a, events: [event()])
        _ = try await store.append(to: b, events: [event()])
        // A holds stream a's head in an open transaction.
        let holder = try await PostgresConnection.connect(url)
        try await holder.run { s in
            try s.execute(unsafeSQL: "BEGIN")
            _ = try EventStore.append([AppendRequest(stream: a, events: [event()])], on: s)
        }
        // A batch of b then a waits for a. Locking row by row, in the batch's order, it held b
        // while it waited.
        let crossing = try await PostgresConnection.connect(url)
        let waiting = Task {
            try await crossing.run { s in
                try EventStore.append([AppendRequest(stream: b, events: [event()]), AppendRequest(stream: a, events: [event()])], on: s)
            }
        }
        try await eventually(timeout: .seconds(10), "the batch waits for stream a") {
            try await count(
                url,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() AND query LIKE '%append_batch%'"
            ) == 1
        }
        // The holder now appends to b in the same transaction: with b held by the waiting batch,
        // this was a deadlock, which PostgreSQL broke by failing one of the two (40P01).
        let appended = try await holder.run { s in
            let results = try EventStore.append([AppendRequest(stream: b, events: [event()])], on: s)
            try s.execute(unsafeSQL: "COMMIT")
            return results
        }
        #expect(appended.map(\.range?.streamVersion) == [2])
        let crossed = try await waiting.value
        #expect(crossed.map(\.range?.streamVersion) == [3, 3])
        let report = try await store.verifyChains()
        #expect(report.isIntact && report.events == 6, "\(report.findings)")
    }
    @Test("a replay that waited for the commit it repeats is a replay, not a conflict with the version that commit made")
    func replayAfterWaiting() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let stream = newStream()
        _ = try await store.append(to: stream, events: [event()])
        let repeated = AppendRequest(stream: stream, expected: .exact(1), events: [event(), event()])
        let holder = try await PostgresConnection.connect(url)
        let first = try await holder.run { s in
            try s.execute(unsafeSQL: "BEGIN")
            return try EventStore.append([repeated], on: s)
        }
        #expect(first.map(\.range?.streamVersion) == [3])
        // The same append again (a client's retry), batched with another: it waits for the head.
        let retrying = try await PostgresConnection.connect(url)
        let retry = Task {
            try await retrying.run { s in try EventStore.append([repeated, AppendRequest(stream: newStream(), events: [event()])], on: s) }
        }
        try await eventually(timeout: .seconds(10), "the retry waits for the stream's head") {
            try await count(
                url,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() AND query LIKE '%append_batch%'"
            ) == 1
        }
        try await holder.run { s in try s.execute(unsafeSQL: "COMMIT") }
        let results = try await retry.value
        // Looked for before the wait, the ids were not there yet and the version had moved.
        #expect(results.first == first.first.flatMap(\.range).map { .alreadyAppended($0) }, "\(results)")
        #expect(results.last?.range?.streamVersion == 1)
    }

    @Test("an append of no events in a batch fails nothing: the others are stored, the empty one's stream is not made")
    func emptyAppend() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let empty = newStream(), full = newStream()
        let id = UUID().uuidString.lowercased()
        let batch = #"[{"stream":"\#(empty)","events":[]},{"stream":"\#(full)","events":[{"id":"\#(id)","type":"ChargingErrorReported","data":{"n":1}}]}]"#
        let connection = try await PostgresConnection.connect(url)
        let outcomes = try await connection.run { s in
            try s.query("SELECT outcome, stream_version FROM ledger.append_batch(\(batch)::jsonb) ORDER BY request").rows.map {
                (try $0.decode(String.self, column: 0), try $0.decode(Int.self, column: 1))
            }
        }
        #expect(outcomes.map(\.0) == ["appended", "appended"] && outcomes.map(\.1) == [0, 1])
        #expect(try await count(url, "SELECT count(*) FROM ledger.streams WHERE stream_id = \(empty)") == 0)
        #expect(try await store.readStream(full).count == 1)
    }

    @Test("both append functions run their statements on generic plans: a call does not plan its statements again (db/0025)")
    func genericPlans() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let connection = try await PostgresConnection.connect(url)
        let settings = try await connection.run { s in
            try s.query(
                "SELECT proname, array_to_string(proconfig, ',') FROM pg_proc WHERE pronamespace = 'ledger'::regnamespace AND proname IN ('append_batch', 'append_one') ORDER BY proname"
            ).rows.map { (try $0.decode(String.self, column: 0), try $0.decode(String.self, column: 1)) }
        }
        #expect(settings.map(\.0) == ["append_batch", "append_one"])
        for (function, config) in settings {
            // A plan kept for the connection's life must not scan a table that was small when it was made.
            for setting in ["plan_cache_mode=force_generic_plan", "enable_seqscan=off", "enable_hashjoin=off", "enable_mergejoin=off"] {
                #expect(config.contains(setting), "\(function): \(config)")
            }
        }
        // Batches of several sizes on one connection, each past the five custom plans PostgreSQL
        // makes first: the generic plans give the same outcomes.
        for size in [2, 9, 1, 5, 17, 3, 1, 2] {
            let streams = (0..<size).map { _ in newStream() }
            let results = try await connection.run { s in
                try EventStore.append(streams.map { AppendRequest(stream: $0, expected: .noStream, events: [event()]) }, on: s)
            }
            #expect(results.map(\.range?.streamVersion) == Array(repeating: 1, count: size))
        }
        #expect(try await store.verifyChains().isIntact)
    }
}
