import EventStore
import Foundation
import Postgres
import Synchronization
import Testing
import TestSupport

/// The one way to follow the store: checkpointed subscriptions (projector, forwarder intake) and
/// the shared tail (live feed), against a real PostgreSQL.
@Suite("Event store: subscriptions")
struct SubscriptionTests {
    /// A subscriber's own tables: a checkpoint, and one row per event it was handed.
    static func createSubscriberTables(_ url: String, schema: String = "follower") async throws {
        let connection = try await PostgresConnection.connect(url)
        try await connection.run { session in
            try session.execute(
                unsafeSQL: """
                    CREATE SCHEMA \(schema);
                    CREATE TABLE \(schema).checkpoint (
                        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), transaction_id xid8 NOT NULL DEFAULT '0',
                        position bigint NOT NULL DEFAULT 0, events_applied bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now());
                    INSERT INTO \(schema).checkpoint DEFAULT VALUES;
                    CREATE TABLE \(schema).seen (event_id uuid NOT NULL, position bigint NOT NULL, seq bigserial);
                    """
            )
        }
    }

    /// Records the batch's events in `<schema>.seen`, in the subscriber's transaction.
    static func record(_ schema: String) -> SubscriptionRunner.Apply {
        { batch, session in
            guard !batch.events.isEmpty else { return }
            try session.query(
                """
                INSERT INTO \(unsafeRaw: schema).seen (event_id, position)
                SELECT * FROM unnest(\(batch.events.map(\.eventID.uuidString))::uuid[], \(batch.events.map { String($0.globalPosition) })::bigint[])
                """
            )
        }
    }

    static func seen(_ url: String, schema: String = "follower") async throws -> [Int64] {
        let connection = try await PostgresConnection.connect(url)
        return try await connection.run { session in
            try session.query("SELECT position FROM \(unsafeRaw: schema).seen ORDER BY seq").rows.map { try $0.decode(Int64.self, column: 0) }
        }
    }

    func appendMany(_ store: EventStore, _ count: Int) async throws {
        for _ in 0..<count { _ = try await store.append(to: newStream(), events: [event()]) }
    }

    @Test("exactly once: a subscriber killed between its writes and COMMIT neither loses nor repeats an event")
    func exactlyOnceUnderKill() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        try await Self.createSubscriberTables(url)
        try await appendMany(store, 60)
        let batches = Mutex(0)
        // On its third batch the subscriber's backend is killed after its rows are written and
        // before COMMIT, as a crash of the process would kill it.
        let dying = SubscriptionRunner(
            Subscription(name: "test-follower", checkpoints: ["follower.checkpoint"]), store: store,
            configuration: .init(batchSize: 7, pollInterval: .milliseconds(50)), logger: .init(label: "test"), prepareSession: nil,
            beforeCommit: { session, _ in
                if batches.withLock({ $0 += 1; return $0 }) == 3 { try session.query("SELECT pg_terminate_backend(pg_backend_pid())") }
            },
            writer: .transaction(Self.record("follower"))
        )
        let task = Task { await dying.run() }
        try await eventually("the subscriber died mid-batch and went on to the end") { try await Self.seen(url).count >= 60 }
        try await appendMany(store, 5)
        try await eventually("and took in what came after") { try await Self.seen(url).count >= 65 }
        task.cancel()
        await task.value
        let seen = try await Self.seen(url)
        #expect(batches.withLock { $0 } > 3, "the kill happened and batches followed it")
        #expect(seen.count == 65 && Set(seen).count == 65, "every event once: \(seen.count) rows, \(Set(seen).count) distinct")
        #expect(seen == seen.sorted(), "in the store's order")
        let applied = try await count(url, "SELECT events_applied::int FROM follower.checkpoint")
        #expect(applied == 65)
    }

    @Test("one active instance per name; a standby takes over when the active one's connection goes")
    func takeover() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        try await Self.createSubscriberTables(url)
        let subscription = Subscription(name: "test-takeover", checkpoints: ["follower.checkpoint"])
        let configuration = SubscriptionRunner.Configuration(pollInterval: .milliseconds(50), standbyRetry: .milliseconds(100))
        let first = SubscriptionRunner(subscription, store: store, configuration: configuration, logger: .init(label: "test"), apply: Self.record("follower"))
        let second = SubscriptionRunner(subscription, store: store, configuration: configuration, logger: .init(label: "test"), apply: Self.record("follower"))
        let firstTask = Task { await first.run() }
        try await eventually("the first is active") { first.status.role == .active }
        let secondTask = Task { await second.run() }
        defer { secondTask.cancel() }
        try await eventually("the second stands by") { second.status.role == .standby }
        try await appendMany(store, 3)
        try await eventually("the first applies") { first.status.eventsApplied == 3 }
        #expect(second.status.eventsApplied == 0 && second.status.role == .standby, "never two active")

        let clock = ContinuousClock()
        let died = clock.now
        firstTask.cancel()
        await firstTask.value
        // Seconds, not the 20 s network timeout a lock kept by a dead connection would wait out;
        // not 3 s either: a server busy with every other suite may take a while to end a backend.
        try await eventually(timeout: .seconds(15), "the standby takes over") { second.status.role == .active }
        #expect(clock.now - died < .seconds(10))
        try await appendMany(store, 2)
        try await eventually("the second applies what came after") { second.status.eventsApplied == 2 }
        let seen = try await Self.seen(url)
        #expect(seen.count == 5 && Set(seen).count == 5)
    }

    @Test("a follower's lock is this database's: another ledger on the same server holding the same name is not seen as active here")
    func lockPerDatabase() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        let (other, otherURL) = try await makeStore()
        defer { other.close() }
        let name = "projector:test-per-database"
        let holder = try await PostgresConnection.connect(otherURL)
        #expect(try await holder.run { try Subscription.tryLock(name, on: $0) })
        #expect(try await other.pool.run { try Subscription.isLocked(name, on: $0) }, "held in the other database")
        #expect(try await !store.pool.run { try Subscription.isLocked(name, on: $0) }, "not held in this one: \(url)")
    }

    @Test("events held back by an open transaction past the bound are a stall, logged at warning naming the holder; the resumption is logged")
    func stallLogged() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        try await Self.createSubscriberTables(url)
        let logs = CapturedLogs()
        let runner = SubscriptionRunner(
            Subscription(name: "test-stall", checkpoints: ["follower.checkpoint"]), store: store,
            configuration: .init(pollInterval: .milliseconds(50), stallWarning: .milliseconds(300)), logger: logs.logger(), apply: Self.record("follower")
        )
        let task = Task { await runner.run() }
        defer { task.cancel() }
        let slow = try await PostgresConnection.connect(url, applicationName: "a long report")
        let holder = try await slow.run { session -> Int32 in
            try session.execute(unsafeSQL: "BEGIN")
            _ = try EventStore.append([AppendRequest(stream: newStream(), events: [event()])], on: session)
            return session.backendPID
        }
        _ = try await store.append(to: newStream(), events: [event()])
        let stalled = { logs.all.filter { $0.level == .warning && $0.message.hasPrefix("subscription stalled") } }
        // Not 5 s: the runner connects and takes its lock first, on a server busy with other suites.
        try await eventually(timeout: .seconds(15), "the stall is logged") { !stalled().isEmpty }
        let warning = try #require(stalled().first)
        // The oldest transaction holding an xid anywhere in the cluster (xids are cluster-wide):
        // this one, unless a test beside it holds an older one.
        let holders = try await count(url, "SELECT count(*)::int FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid = \(Int(holder))")
        #expect(holders == 1)
        #expect(warning.metadata["holder_pid"].flatMap { Int32($0) } != nil && warning.metadata["holder_user"] != nil, "\(warning)")
        #expect(warning.metadata["holder_query"] == nil, "a query's text may carry personal data: never logged")
        try await slow.run { try $0.execute(unsafeSQL: "COMMIT") }
        try await eventually("both delivered") { try await Self.seen(url).count == 2 }
        try await eventually("the resumption is logged") { logs.all.contains { $0.level == .notice && $0.message == "subscription resumed after a stall" } }
        // Polled every few milliseconds while held: a warning per poll would be hundreds.
        #expect(stalled().count <= 3, "one warning per stall (and every ten bounds after), not one per poll")
    }

    @Test("an event that commits late at a lower position is delivered, before the ones that committed after it")
    func lateCommitDelivered() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        try await Self.createSubscriberTables(url)
        let runner = SubscriptionRunner(
            Subscription(name: "test-late", checkpoints: ["follower.checkpoint"]), store: store,
            configuration: .init(pollInterval: .milliseconds(50)), logger: .init(label: "test"), apply: Self.record("follower")
        )
        let task = Task { await runner.run() }
        defer { task.cancel() }
        // A transaction takes its position first and stays open while a later one commits.
        let slow = try await PostgresConnection.connect(url)
        let lowID = UUID()
        let low = try await slow.run { session -> Int64 in
            try session.execute(unsafeSQL: "BEGIN")
            let result = try EventStore.append([AppendRequest(stream: newStream(), events: [event(id: lowID)])], on: session)
            return result[0].range!.firstPosition
        }
        let fast = try await store.append(to: newStream(), events: [event()])
        let high = fast.range!.firstPosition
        #expect(high > low)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await Self.seen(url).isEmpty, "nothing passes the open transaction")
        try await slow.run { try $0.execute(unsafeSQL: "COMMIT") }
        try await eventually("both delivered") { try await Self.seen(url).count == 2 }
        #expect(try await Self.seen(url) == [low, high], "the late commit first: the store's gap-safe order")
    }

    @Test("several checkpoints: the one behind catches up alone to the one ahead, then they move together")
    func checkpointsCatchUp() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        try await Self.createSubscriberTables(url, schema: "behind")
        try await Self.createSubscriberTables(url, schema: "ahead")
        try await appendMany(store, 10)
        let all = try await readAll(store, after: .start, count: 10)
        // `ahead` was set to the 6th event (as a rebuild's swap would leave it).
        let connection = try await PostgresConnection.connect(url)
        try await connection.run { session in
            try session.query(
                "UPDATE ahead.checkpoint SET transaction_id = \(String(all[5].transactionID))::xid8, position = \(all[5].globalPosition)"
            )
        }
        let subscription = Subscription(name: "test-two", checkpoints: ["behind.checkpoint", "ahead.checkpoint"], batchSize: 4)
        let batches = try await connection.run { session in
            var batches: [(advancing: [Int], count: Int)] = []
            var known: [ReadCursor]?
            while true {
                let (outcome, _) = try subscription.step(on: session, known: &known) { batch, session in
                    batches.append((batch.advancing, batch.events.count))
                    for index in batch.advancing { try Self.record(["behind", "ahead"][index])(batch, session) }
                }
                if case .idle(let held) = outcome {
                    // Other suites' open transactions can hold the cluster's read horizon back.
                    if !held { break }
                    usleep(5000)
                }
            }
            return batches
        }
        // Alone up to the one ahead (6 events, batches of at most 4), then together (4 events).
        // How the batches split can vary with the cluster's read horizon; these cannot.
        let alone = batches.prefix { $0.advancing == [0] }, together = batches.dropFirst(alone.count)
        #expect(together.allSatisfy { $0.advancing == [0, 1] }, "\(batches)")
        #expect(alone.map(\.count).reduce(0, +) == 6 && together.map(\.count).reduce(0, +) == 4, "\(batches)")
        #expect(batches.allSatisfy { $0.count <= 4 })
        #expect(try await Self.seen(url, schema: "behind") == all.map(\.globalPosition))
        #expect(try await Self.seen(url, schema: "ahead") == all.dropFirst(6).map(\.globalPosition))
    }

    @Test("the shared tail: readers resume from their cursor without gap or duplicate, and readers at the head share one read per batch")
    func sharedTail() async throws {
        let (store, _) = try await makeStore()
        defer { store.close() }
        try await appendMany(store, 30)
        let all = try await readAll(store, after: .start, count: 30)
        let tail = SharedTail(store: store, pageSize: 8, keep: 16)
        // From the start, page by page: the same events as readAll.
        var got: [Int64] = []
        var cursor = ReadCursor.start
        while true {
            let page = try await tail.events(after: cursor)
            got += page.events.map(\.globalPosition)
            cursor = page.events.last?.cursor ?? cursor
            if !page.full && page.events.isEmpty { break }
        }
        #expect(got == all.map(\.globalPosition))
        // Resumed from the middle (a Last-Event-ID), inside the kept window and before it.
        for resume in [all[25].cursor, all[3].cursor] {
            let page = try await tail.events(after: resume)
            let expected = all.filter { $0.cursor > resume }.prefix(8).map(\.globalPosition)
            #expect(page.events.map(\.globalPosition) == Array(expected), "after \(resume)")
        }
        // Twenty readers at the head while new events arrive: one shared read per batch, not one each.
        let head = all.last!.cursor
        try await appendMany(store, 3)
        // Readable first (other suites' open transactions can hold the cluster's horizon back),
        // so that the readers below find them on the first shared read.
        _ = try await readAll(store, after: head, count: 3)
        let before = tail.reads
        let pages = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for _ in 0..<20 {
                group.addTask {
                    var seen: [Int64] = []
                    var at = head
                    let clock = ContinuousClock()
                    let deadline = clock.now + .seconds(10)
                    while seen.count < 3, clock.now < deadline {
                        let page = try await tail.events(after: at)
                        seen += page.events.map(\.globalPosition)
                        at = page.events.last?.cursor ?? at
                        if page.events.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
                    }
                    return seen
                }
            }
            return try await group.reduce(into: [[Int64]]()) { $0.append($1) }
        }
        #expect(pages.allSatisfy { $0.count == 3 && $0 == $0.sorted() }, "every reader got the three new events once")
        let after = tail.reads
        #expect(after.own == before.own, "readers at the head read nothing on their own")
        #expect(after.shared - before.shared < 20, "\(after.shared - before.shared) shared reads for 20 readers")
    }

    @Test("one-statement batches: the checkpoints and the subscriber's parts move together, or nothing does when one checkpoint moved")
    func statementBatches() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        try await Self.createSubscriberTables(url, schema: "first")
        try await Self.createSubscriberTables(url, schema: "second")
        try await appendMany(store, 6)
        let all = try await readAll(store, after: .start, count: 6)
        let subscription = Subscription(name: "test-statement", checkpoints: ["first.checkpoint", "second.checkpoint"], batchSize: 4)
        let record: SubscriptionRunner.Statement = { batch, _, statement in
            for (index, schema) in ["first", "second"].enumerated() where batch.advancing.contains(index) {
                statement.parts.append(
                    """
                    seen_\(schema) AS (
                        INSERT INTO \(schema).seen (event_id, position)
                        SELECT * FROM unnest(\(statement.builder.bind(batch.events.map(\.eventID.uuidString)))::uuid[],
                                             \(statement.builder.bind(batch.events.map { String($0.globalPosition) }))::bigint[])
                         WHERE \(Subscription.BatchStatement.moved))
                    """
                )
            }
        }
        let connection = try await PostgresConnection.connect(url)
        // A first batch, then `second` is moved behind the subscriber's back (as a rebuild's swap
        // would): the next batch, built on the stale checkpoints, writes nothing at all.
        let (first, stale) = try await connection.run { session -> (Subscription.Outcome, [ReadCursor]?) in
            var known: [ReadCursor]?
            var outcome = try subscription.step(on: session, known: &known, statement: record)
            // Other suites' open transactions can hold the cluster's read horizon back.
            while outcome == .idle(held: true) {
                usleep(5000)
                outcome = try subscription.step(on: session, known: &known, statement: record)
            }
            try session.query(
                "UPDATE second.checkpoint SET transaction_id = \(String(all[5].transactionID))::xid8, position = \(all[5].globalPosition)"
            )
            return (outcome, known)
        }
        guard case .applied(let taken, let cursor) = first, taken > 0, taken < 6 else { Issue.record("first batch: \(first)"); return }
        #expect(cursor == all[taken - 1].cursor)
        let second = try await connection.run { session -> Subscription.Outcome in
            var known = stale
            return try subscription.step(on: session, known: &known, statement: record)
        }
        #expect(second == .checkpointMoved)
        #expect(try await Self.seen(url, schema: "first") == all.prefix(taken).map(\.globalPosition), "nothing written by the refused batch")
        #expect(try await count(url, "SELECT position::int FROM first.checkpoint") == Int(cursor.position), "the first checkpoint did not move alone")
        // Read afresh: `first` catches up alone to `second`, then both are idle.
        try await connection.run { session in
            var known: [ReadCursor]?
            while true {
                let outcome = try subscription.step(on: session, known: &known, statement: record)
                if outcome == .idle(held: false) { break }
                // Other suites' open transactions can hold the cluster's read horizon back.
                if outcome == .idle(held: true) { usleep(5000) }
            }
        }
        #expect(try await Self.seen(url, schema: "first") == all.map(\.globalPosition))
        #expect(try await Self.seen(url, schema: "second") == all.prefix(taken).map(\.globalPosition), "the second was past the rest already")
    }

    @Test("one-statement batches see a concurrent move of a checkpoint, not their snapshot: the later writer moves and writes nothing")
    func statementAgainstConcurrentMove() async throws {
        let (store, url) = try await makeStore()
        defer { store.close() }
        try await Self.createSubscriberTables(url)
        try await appendMany(store, 3)
        let all = try await readAll(store, after: .start, count: 3)
        let subscription = Subscription(name: "test-concurrent", checkpoints: ["follower.checkpoint"], batchSize: 10)
        let record: SubscriptionRunner.Statement = { batch, _, statement in
            statement.parts.append(
                """
                seen_rows AS (
                    INSERT INTO follower.seen (event_id, position)
                    SELECT * FROM unnest(\(statement.builder.bind(batch.events.map(\.eventID.uuidString)))::uuid[],
                                         \(statement.builder.bind(batch.events.map { String($0.globalPosition) }))::bigint[])
                     WHERE \(Subscription.BatchStatement.moved))
                """
            )
        }
        // Another writer has moved the checkpoint in a transaction it has not committed yet.
        let other = try await PostgresConnection.connect(url)
        try await other.run { session in
            try session.execute(unsafeSQL: "BEGIN")
            try session.query(
                "UPDATE follower.checkpoint SET transaction_id = \(String(all[2].transactionID))::xid8, position = \(all[2].globalPosition)"
            )
        }
        let mine = try await PostgresConnection.connect(url)
        let step = Task {
            try await mine.run { session -> Subscription.Outcome in
                var known: [ReadCursor]? = [.start]
                return try subscription.step(on: session, known: &known, statement: record)
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        try await other.run { try $0.execute(unsafeSQL: "COMMIT") }
        let outcome = try await step.value
        #expect(outcome == .checkpointMoved, "the step waited for the other writer and saw its move")
        #expect(try await Self.seen(url).isEmpty, "and wrote nothing")
        #expect(try await count(url, "SELECT position::int FROM follower.checkpoint") == Int(all[2].globalPosition))
    }

    @Test("a wait whose timeout comes before it is stored still returns: the timeout is not lost")
    func shortTimeouts() async throws {
        final class Finished: Sendable {
            let count = Mutex(0)
        }
        let signal = WakeSignal()
        let finished = Finished()
        // Thousands of waits with a zero timeout at once, on every thread of the pool: some
        // timers fire before their wait is stored. Each wait must still return (there is no ring).
        let waits = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4000 {
                    group.addTask {
                        await signal.wait(after: signal.generation, timeout: .zero)
                        finished.count.withLock { $0 += 1 }
                    }
                }
            }
        }
        try await eventually(timeout: .seconds(10), "every wait returned") { finished.count.withLock { $0 } == 4000 }
        await waits.value
    }

    @Test("the shared tail: a cursor ahead of every event does not move the window, and readers at the head keep sharing reads")
    func sharedTailAheadCursor() async throws {
        let (store, _) = try await makeStore()
        defer { store.close() }
        try await appendMany(store, 5)
        let all = try await readAll(store, after: .start, count: 5)
        let tail = SharedTail(store: store, pageSize: 8, keep: 16)
        let head = all.last!.cursor
        _ = try await tail.events(after: head)
        // A client's Last-Event-ID far beyond anything stored.
        let ahead = try await tail.events(after: ReadCursor(transactionID: .max, position: .max))
        #expect(ahead.events.isEmpty)
        try await appendMany(store, 2)
        try await Task.sleep(for: .milliseconds(100))
        let before = tail.reads
        var got: [RecordedEvent] = []
        // Polled up to a deadline, not a few seconds: other suites' open transactions can hold
        // the cluster's read horizon back below the new events for that long.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while got.count < 2, clock.now < deadline {
            got += try await tail.events(after: got.last?.cursor ?? head).events
            if got.count < 2 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(got.count == 2)
        #expect(tail.reads.own == before.own, "a reader at the head is still served by the shared window")
    }
}
