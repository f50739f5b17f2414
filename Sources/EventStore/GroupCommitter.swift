import Dispatch
import Foundation
import Logging
import Postgres
import Synchronization

/// Group commit: concurrent appends share one statement and one commit.
///
/// Appends queue up in `pending`. Each lane owns a dedicated connection and its own serial
/// queue (its own thread; never the cooperative pool). An idle lane is woken by the first
/// append that finds it idle; it takes everything pending (up to `maxBatch`), runs it as one
/// `ledger.append_batch` statement, which commits when it returns, answers each caller, and
/// takes the next batch, until nothing is pending. While one lane waits for its commit to be
/// flushed, another can already be running the next batch, so the disk flush and the next
/// batch's work overlap.
///
/// Every caller is answered only after the commit that holds its events returned, and each
/// lane's connection raises `synchronous_commit` to `on` (`SessionSettings`), so an
/// `.appended` answer is durable.
///
/// Bounded, so that a stalled database holds nobody: at most `maxQueued` appends wait for a
/// lane (beyond that `submit` fails at once with `.overloaded`), and a caller whose commit has
/// not returned after `commitTimeout` is answered `.commitTimedOut`: the outcome is unknown (the
/// commit may still land, say once a synchronous standby answers), and sending the same append
/// again is safe, since event ids make it a replay. An append still queued when its caller gave
/// up is never run.
final class GroupCommitter: Sendable {
    /// A caller's answer, given once: by the commit or by the deadline, whichever comes first.
    private final class Reply: Sendable {
        private let continuation: Mutex<CheckedContinuation<AppendResult, any Error>?>

        init(_ continuation: CheckedContinuation<AppendResult, any Error>) {
            self.continuation = Mutex(continuation)
        }

        var isAnswered: Bool { continuation.withLock { $0 == nil } }

        func resume(with result: Result<AppendResult, any Error>) {
            let waiting = continuation.withLock { current -> CheckedContinuation<AppendResult, any Error>? in
                defer { current = nil }
                return current
            }
            waiting?.resume(with: result)
        }
    }

    private struct Pending {
        let request: AppendRequest
        let reply: Reply
    }

    /// Replies not yet answered, in the order of their deadlines (all deadlines are submission
    /// plus the same timeout, so submission order is deadline order: a FIFO, no heap). One timer
    /// sweeps its head; a timer per append woke a thread per append when it fired, answered or
    /// not, and cost ingest a tenth of its rate.
    private struct Deadlines {
        var entries: [(deadline: DispatchTime, reply: Reply)] = []
        var head = 0

        mutating func append(_ reply: Reply, deadline: DispatchTime) { entries.append((deadline, reply)) }

        /// Removes and returns the replies whose deadline passed, dropping answered ones on the way.
        mutating func expired(at now: DispatchTime) -> [Reply] {
            var due: [Reply] = []
            while head < entries.count, entries[head].reply.isAnswered || entries[head].deadline <= now {
                if !entries[head].reply.isAnswered { due.append(entries[head].reply) }
                head += 1
            }
            if head > 1024, head * 2 >= entries.count {
                entries.removeFirst(head)
                head = 0
            }
            return due
        }
    }

    private struct State {
        var pending: [Pending] = []
        var idleLanes: [Int]
        var closed = false
    }

    private final class Lane: Sendable {
        let index: Int
        let queue: DispatchQueue
        let connection = Mutex<PostgresConnection?>(nil)

        init(index: Int) {
            self.index = index
            self.queue = DispatchQueue(label: "eventstore.commit.\(index)")
        }
    }

    private let url: String
    private let maxBatch: Int
    private let maxQueued: Int
    private let commitTimeout: Duration
    private let settings: SessionSettings
    private let logger: Logger
    private let lanes: [Lane]
    private let state: Mutex<State>
    private let deadlines = Mutex(Deadlines())
    /// The timer that runs `sweep`; behind a lock because Dispatch's timer type is not Sendable.
    private let sweeper: Mutex<any DispatchSourceTimer>
    private let batchSizes = Mutex(GroupCommitStatistics())

    init(url: String, lanes: Int, maxBatch: Int, maxQueued: Int = 4096, commitTimeout: Duration = .seconds(10), settings: SessionSettings = SessionSettings(), logger: Logger) {
        precondition(lanes > 0 && maxBatch > 0 && maxQueued > 0)
        self.url = url
        self.maxBatch = maxBatch
        self.maxQueued = maxQueued
        self.commitTimeout = commitTimeout
        self.settings = settings
        self.sweeper = Mutex(DispatchSource.makeTimerSource(queue: DispatchQueue(label: "eventstore.commit.deadlines")))

        self.logger = logger
        self.lanes = (0..<lanes).map(Lane.init)
        self.state = Mutex(State(idleLanes: Array((0..<lanes).reversed())))
        let interval = max(Duration.milliseconds(10), min(.milliseconds(250), commitTimeout / 4))
        sweeper.withLock { timer in
            timer.schedule(deadline: .now(), repeating: .milliseconds(Int(interval / .milliseconds(1))))
            timer.setEventHandler { [weak self] in self?.sweep() }
            timer.resume()
        }
    }

    deinit { sweeper.withLock { $0.cancel() } }

    /// Answers every caller whose commit has not returned by its deadline.
    ///
    /// Those still queued leave the queue first, so they no longer take places that `submit`
    /// counts: left there until a lane came to drop them, they had new appends refused as
    /// `.overloaded` after the stall that timed them out was over.
    private func sweep() {
        let due = deadlines.withLock { $0.expired(at: .now()) }
        guard !due.isEmpty else { return }
        let gaveUp = Set(due.map(ObjectIdentifier.init))
        state.withLock { $0.pending.removeAll { gaveUp.contains(ObjectIdentifier($0.reply)) } }
        let error = EventStoreError(code: .commitTimedOut, message: "the commit did not return within \(commitTimeout); its outcome is unknown")
        for reply in due { reply.resume(with: .failure(error)) }
    }

    /// Appends waiting for a lane now.
    var queued: Int { state.withLock { $0.pending.count } }

    /// Batches run, appends they carried, and how large they were.
    var batchStatistics: GroupCommitStatistics { batchSizes.withLock { $0 } }

    func submit(_ request: AppendRequest) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { continuation in
            let reply = Reply(continuation)
            enum Admission { case closed, full, queued(wake: Int?) }
            let admission = state.withLock { state -> Admission in
                if state.closed { return .closed }
                if state.pending.count >= maxQueued { return .full }
                state.pending.append(Pending(request: request, reply: reply))
                return .queued(wake: state.idleLanes.popLast())
            }
            switch admission {
            case .closed:
                reply.resume(with: .failure(EventStoreError(code: .closed, message: "the event store is shut down")))
            case .full:
                reply.resume(with: .failure(EventStoreError(code: .overloaded, message: "\(maxQueued) appends are waiting for a commit already")))
            case .queued(let wake):
                if let laneIndex = wake {
                    let lane = lanes[laneIndex]
                    lane.queue.async { self.drain(lane) }
                }
                let deadline = DispatchTime.now() + .milliseconds(Int(commitTimeout / .milliseconds(1)))
                deadlines.withLock { $0.append(reply, deadline: deadline) }
            }
        }
    }

    /// Stops taking appends; queued ones still run.
    func close() {
        state.withLock { $0.closed = true }
    }

    private func drain(_ lane: Lane) {
        while true {
            let batch = state.withLock { state -> [Pending]? in
                if state.pending.isEmpty {
                    state.idleLanes.append(lane.index)
                    return nil
                }
                let count = min(maxBatch, state.pending.count)
                // An append whose caller was answered already (it timed out) is dropped unrun.
                let batch = state.pending.prefix(count).filter { !$0.reply.isAnswered }
                state.pending.removeFirst(count)
                return batch
            }
            guard let batch else { return }
            guard !batch.isEmpty else { continue }
            batchSizes.withLock { $0.record(batch.count) }
            let results = commit(batch.map(\.request), on: lane)
            for (pending, result) in zip(batch, results) { pending.reply.resume(with: result) }
        }
    }

    /// Runs a batch on the lane's connection, reconnecting when it broke.
    ///
    /// When the connection breaks mid-batch nobody knows whether the commit happened, so the
    /// batch runs once more on a fresh connection, and each append lost that way gets the
    /// retry's outcome as it is. Event ids make the retry safe, but they cannot say *who*
    /// stored an id that the retry finds: the lost commit, or an earlier request with the same
    /// id and other content (a corrected Start, an `Idempotency-Key` reused for another body).
    /// So a found id stays `.alreadyAppended`, and the caller decides by content (the ingestor
    /// compares content digests); turning it into `.appended` acknowledged notifications that
    /// were never stored.
    private func commit(_ requests: [AppendRequest], on lane: Lane) -> [Result<AppendResult, any Error>] {
        var results = attempt(requests, on: lane)
        let lost = results.contains { result in
            if case .failure(let error as PostgresError) = result { return error.code == .connectionLost }
            return false
        }
        guard lost else { return results }
        logger.warning("database connection lost during a commit; running the batch again", metadata: ["appends": "\(requests.count)"])
        let retried = attempt(requests, on: lane)
        for index in results.indices {
            guard case .failure(let error as PostgresError) = results[index], error.code == .connectionLost else { continue }
            results[index] = retried[index]
        }
        return results
    }

    private func attempt(_ requests: [AppendRequest], on lane: Lane) -> [Result<AppendResult, any Error>] {
        let connection: PostgresConnection
        do {
            connection = try lane.connection.withLock { current in
                if let existing = current, !existing.isBroken { return existing }
                let fresh = try PostgresConnection.connectBlocking(url, applicationName: "error-ledger-commit", settings: settings, logger: logger)
                current = fresh
                return fresh
            }
        } catch {
            return requests.map { _ in .failure(error) }
        }
        do {
            return try connection.runBlocking { session in BatchAppender.append(requests, on: session) }
        } catch {
            return requests.map { _ in .failure(error) }
        }
    }
}

/// What group commit has done since the store opened: batches, appends, and a histogram of
/// batch sizes (for `/metrics`).
public struct GroupCommitStatistics: Sendable, Hashable {
    /// Upper bounds of the size buckets; a batch falls in the first bucket whose bound is ≥ its size.
    public static let bounds = [1, 2, 4, 8, 16, 32, 64, 128, 256]

    public private(set) var batches = 0
    public private(set) var appends = 0
    /// Batches per bucket of `bounds`, not cumulative; the last counts batches above every bound.
    public private(set) var sizes = [Int](repeating: 0, count: bounds.count + 1)

    mutating func record(_ size: Int) {
        batches += 1
        appends += size
        sizes[Self.bounds.firstIndex { size <= $0 } ?? Self.bounds.count] += 1
    }
}
