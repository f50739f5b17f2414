import EventStore
import Foundation
import Postgres
import Synchronization
import Testing
import TestSupport

@Suite("Event store: gap-safe readAll", .serialized)
struct GapSafeReadTests {
    /// Writers append multi-event batches in transactions they hold open for a random while,
    /// rolling some back; a reader follows with readAll the whole time. Identity values are
    /// handed out before commit, so a reader by position alone would skip the events of a
    /// transaction that commits after a later one. This reader must see every committed event
    /// exactly once and no rolled-back one.
    @Test("a reader sees every committed event exactly once under concurrent multi-event writers")
    func readerMissesNothing() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let writers = 8
        let transactionsPerWriter = 25

        let finished = Finished()
        let writing = Task {
            defer { finished.flag.withLock { $0 = true } }
            return try await withThrowingTaskGroup(of: [UUID].self) { group in
                for w in 0..<writers {
                    group.addTask {
                        let connection = try await PostgresConnection.connect(url)
                        var committed: [UUID] = []
                        var random = SystemRandomNumberGenerator()
                        for t in 0..<transactionsPerWriter {
                            let ids = (0..<Int.random(in: 1...5, using: &random)).map { _ in UUID() }
                            let stream = "session-w\(w)-t\(t)"
                            let events = ids.map { #"{"id":"\#($0)","type":"ChargingProgressed","data":{},"metadata":{}}"# }.joined(separator: ",")
                            let batch = #"[{"stream":"\#(stream)","expected":null,"events":[\#(events)]}]"#
                            let hold = Double.random(in: 0...0.03, using: &random)
                            let commit = Int.random(in: 0..<5, using: &random) != 0
                            try await connection.run { session in
                                try session.execute(unsafeSQL: "BEGIN")
                                try session.query("SELECT * FROM ledger.append_batch(\(batch)::jsonb)")
                                try session.query("SELECT pg_sleep(\(hold))")
                                try session.execute(unsafeSQL: commit ? "COMMIT" : "ROLLBACK")
                            }
                            if commit { committed += ids }
                        }
                        return committed
                    }
                }
                return try await group.reduce(into: [UUID]()) { $0 += $1 }
            }
        }

        var seen: [UUID] = []
        var cursors: [ReadCursor] = []
        var cursor = ReadCursor.start
        var committed: [UUID]?
        let clock = ContinuousClock()
        var deadline = clock.now + .seconds(120)
        // Follow the writers; once they are done, keep reading until every committed event has
        // come back (the horizon also waits for other tests' transactions) or the deadline.
        while clock.now < deadline {
            let page = try await store.readAll(after: cursor, limit: 7)
            seen += page.events.map(\.eventID)
            cursors += page.events.map(\.cursor)
            cursor = page.next
            if let committed, seen.count >= committed.count { break }
            if page.events.isEmpty {
                try await Task.sleep(for: .milliseconds(2))
                if committed == nil, finished.flag.withLock({ $0 }) {
                    committed = try await writing.value
                    deadline = clock.now + .seconds(30)
                }
            }
        }
        // Anything beyond the committed set would show up now.
        try await Task.sleep(for: .milliseconds(200))
        seen += try await store.readAll(after: cursor, limit: 1000).events.map(\.eventID)
        let committedIDs = try #require(committed)
        #expect(!committedIDs.isEmpty)
        #expect(seen.count == Set(seen).count, "no event was read twice")
        let missed = Set(committedIDs).subtracting(seen)
        let extra = Set(seen).subtracting(committedIDs)
        #expect(missed.isEmpty, "\(missed.count) committed events were never read")
        #expect(extra.isEmpty, "\(extra.count) events were read that were not committed")
        #expect(cursors == cursors.sorted(), "cursors only move forward")
        #expect(zip(cursors, cursors.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test("replay hands over every event in order, page by page, and returns the last cursor")
    func replayPages() async throws {
        let (store, _) = try await makeStore()
        defer { store.close() }
        let streams = (0..<25).map { _ in newStream() }
        for stream in streams { _ = try await store.append(to: stream, events: [event()]) }
        let all = try await readAll(store, after: .start, count: 25)
        #expect(all.count == 25)
        var pages: [[RecordedEvent]] = []
        let end = try await store.replay(after: .start, pageSize: 7) { pages.append($0) }
        #expect(pages.map(\.count) == [7, 7, 7, 4])
        #expect(pages.flatMap { $0 }.map(\.eventID) == all.map(\.eventID))
        #expect(end == all.last?.cursor)
        var rest = 0
        let same = try await store.replay(after: end, pageSize: 7) { rest += $0.count }
        #expect(rest == 0 && same == end, "nothing after the end; the cursor stays")
    }

    @Test("an open transaction holds readers back at its id; they catch up when it ends")
    func openTransactionHoldsBack() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        _ = try await store.append(to: newStream(), events: [event()])
        let holder = try await PostgresConnection.connect(url)
        try await holder.run { session in
            try session.execute(unsafeSQL: "BEGIN")
            try session.query("SELECT pg_current_xact_id()")
        }
        let second = newStream()
        _ = try await store.append(to: second, events: [event()])
        let held = try await readAll(store, after: .start, count: 1)
        #expect(held.count == 1)
        try await Task.sleep(for: .milliseconds(300))
        let stillHeld = try await store.readAll(after: try #require(held.last).cursor)
        #expect(stillHeld.events.isEmpty, "the event committed after the open transaction began waits behind it")
        try await holder.run { try $0.execute(unsafeSQL: "ROLLBACK") }
        let caughtUp = try await readAll(store, after: try #require(held.last).cursor, count: 1)
        #expect(caughtUp.map(\.streamID) == [second])
    }
}

final class Finished: Sendable {
    let flag = Mutex(false)
}
