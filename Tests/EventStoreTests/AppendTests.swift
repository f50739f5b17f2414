import EventStore
import Foundation
import Postgres
import Testing
import TestSupport

@Suite("Event store: append", .serialized)
struct AppendTests {
    @Test("a commit that does not return in time is answered commitTimedOut, a full queue overloaded; appends whose callers gave up are not run")
    func boundedCommits() async throws {
        let url = try await TestDatabase.create()
        let store = try await EventStore.open(
            configuration: .init(url: url, poolSize: 2, commitLanes: 1, maxQueuedAppends: 2, commitTimeout: .milliseconds(800))
        )
        defer { store.close() }
        // Hold the table, as a stalled database would: the lane's INSERT waits on the lock.
        let blocker = try await PostgresConnection.connect(url)
        try await blocker.run { try $0.execute(unsafeSQL: "BEGIN; LOCK TABLE ledger.events IN EXCLUSIVE MODE") }
        let inLane = Task { try await store.append(to: newStream(), events: [event()]) }
        // This database's lane only: other tests' lanes in the cluster wait on locks of their own.
        try await eventually(timeout: .seconds(10), "the lane waits on the lock") {
            try await count(
                url,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'error-ledger-commit' AND wait_event_type = 'Lock' AND datname = current_database()"
            ) == 1
        }
        let queued = (0..<2).map { _ in Task { try await store.append(to: newStream(), events: [event()]) } }
        try await eventually(timeout: .seconds(10), "two appends queued") { store.queuedAppends == 2 }
        let refused = try await #require(throws: EventStoreError.self) { try await store.append(to: newStream(), events: [event()]) }
        #expect(refused.code == .overloaded)
        for task in [inLane] + queued {
            let error = try await #require(throws: EventStoreError.self) { try await task.value }
            #expect(error.code == .commitTimedOut)
        }
        // The lane is still held: appends that timed out left the queue at once (they took its
        // places until a lane came to drop them, and after the stall a new append was refused
        // as overloaded).
        #expect(store.queuedAppends == 0)
        try await blocker.run { try $0.execute(unsafeSQL: "ROLLBACK") }
        // The append in the lane commits once the lock is gone (its caller was told "unknown");
        // the queued ones were dropped unrun.
        try await eventually(timeout: .seconds(10), "the lane's append landed") { try await count(url) == 1 }
        // Taken, not refused. Sent again while its commit outlasts the short timeout on a busy
        // machine: the same event id makes a resend safe, as for any caller.
        let stream = newStream(), id = UUID()
        var after: AppendResult?
        for _ in 0..<5 where after == nil {
            do {
                after = try await store.append(to: stream, events: [event(id: id)])
            } catch let error as EventStoreError where error.code == .commitTimedOut {
                continue
            }
        }
        switch after {
        case .appended?, .alreadyAppended?: break
        default: Issue.record("after the stall: \(String(describing: after))")
        }
        #expect(try await count(url) == 2)
    }

    @Test("expected version: no-stream, exact and any; a clash is a typed conflict that stores nothing")
    func expectedVersions() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let stream = newStream()
        let first = try await store.append(to: stream, expected: .noStream, events: [event(), event()])
        #expect(first.range?.streamVersion == 2)
        guard case .appended = first else { Issue.record("expected appended, got \(first)"); return }

        #expect(try await store.append(to: stream, expected: .noStream, events: [event()]) == .conflict(expected: .noStream, actual: 2))
        #expect(try await store.append(to: stream, expected: .exact(1), events: [event()]) == .conflict(expected: .exact(1), actual: 1 + 1))
        let third = try await store.append(to: stream, expected: .exact(2), events: [event()])
        #expect(third.range?.streamVersion == 3)
        let fourth = try await store.append(to: stream, expected: .any, events: [event()])
        #expect(fourth.range?.streamVersion == 4)
        #expect(try await count(url) == 4)

        let read = try await store.readStream(stream)
        #expect(read.map(\.streamVersion) == [1, 2, 3, 4])
        #expect(read.map(\.globalPosition) == read.map(\.globalPosition).sorted())
    }

    @Test("an idempotent replay stores nothing and returns the original positions")
    func idempotentReplay() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let stream = newStream()
        let id = UUID()
        let original = try await store.append(to: stream, expected: .noStream, events: [event(id: id)])
        // Same id again, even with an expectation that would now fail: a replay, not a conflict.
        let replay = try await store.append(to: stream, expected: .noStream, events: [event(id: id, data: #"{"n":2}"#)])
        guard case .appended(let first) = original, case .alreadyAppended(let again) = replay else {
            Issue.record("got \(original) then \(replay)")
            return
        }
        #expect(first == again)
        #expect(try await count(url) == 1)
        #expect(try await store.readStream(stream).first?.data == #"{"n": 1}"#)
    }

    @Test("reusing some, not all, event ids of an earlier append is refused")
    func partialReuse() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let id = UUID()
        _ = try await store.append(to: newStream(), events: [event(id: id)])
        let error = try await #require(throws: EventStoreError.self) {
            try await store.append(to: newStream(), events: [event(id: id), event()])
        }
        #expect(error.code == .eventIDReused)
        #expect(try await count(url) == 1)
    }

    @Test("group commit: 64 concurrent appends share few commits, each answered with its own positions")
    func groupCommit() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for _ in 0..<64 { group.addTask { try await store.append(to: newStream(), expected: .noStream, events: [event()]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let ranges = results.compactMap { result -> AppendedRange? in
            if case .appended(let range) = result { return range }
            return nil
        }
        #expect(ranges.count == 64)
        #expect(Set(ranges.map(\.firstPosition)).count == 64)
        #expect(store.groupCommitStatistics.batches < 64, "appends were batched")
        #expect(try await count(url) == 64)
    }

    @Test("concurrent appends to one stream with expected any get consecutive versions")
    func sameStreamAny() async throws {
        let (store, _) = try await makeStore()
        defer { store.close() }
        let stream = newStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 { group.addTask { _ = try await store.append(to: stream, expected: .any, events: [event()]) } }
            try await group.waitForAll()
        }
        #expect(try await store.readStream(stream).map(\.streamVersion) == Array(1...40))
    }

    @Test("a conflict or a bad event in one append does not fail the others in its batch")
    func isolationWithinBatch() async throws {
        let (store, url) = try await makeStore(lanes: 1, maxBatch: 512)
        defer { store.close() }
        let existing = newStream()
        _ = try await store.append(to: existing, events: [event()])
        enum Outcome { case appended, conflict, failed }
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for i in 0..<60 {
                group.addTask {
                    do {
                        switch i % 3 {
                        case 0:
                            let r = try await store.append(to: existing, expected: .noStream, events: [event()])
                            if case .conflict = r { return .conflict }
                            return .appended
                        case 1:
                            _ = try await store.append(to: newStream(), events: [event(data: "{not json")])
                            return .appended
                        default:
                            _ = try await store.append(to: newStream(), events: [event()])
                            return .appended
                        }
                    } catch {
                        return .failed
                    }
                }
            }
            return await group.reduce(into: [Outcome]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .conflict }.count == 20)
        #expect(outcomes.filter { $0 == .failed }.count == 20)
        #expect(outcomes.filter { $0 == .appended }.count == 20)
        #expect(try await count(url) == 21)
    }

    @Test("bulk appendBatch answers per request, in order")
    func bulkBatch() async throws {
        let (store, _) = try await makeStore()
        defer { store.close() }
        let stream = newStream()
        let requests = [
            AppendRequest(stream: stream, expected: .noStream, events: [event()]),
            AppendRequest(stream: stream, expected: .exact(1), events: [event(), event()]),
            AppendRequest(stream: stream, expected: .exact(1), events: [event()]),
        ]
        let results = try await store.appendBatch(requests).map { try $0.get() }
        #expect(results[0].range?.streamVersion == 1)
        #expect(results[1].range?.streamVersion == 3)
        #expect(results[2] == .conflict(expected: .exact(1), actual: 3))
    }
}
