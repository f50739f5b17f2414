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
/// Every caller is answered only after the commit that holds its events returned:
/// `synchronous_commit` is left as configured (on), so an `.appended` answer is durable.
final class GroupCommitter: Sendable {
    private struct Pending {
        let request: AppendRequest
        let continuation: CheckedContinuation<AppendResult, any Error>
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
    private let logger: Logger
    private let lanes: [Lane]
    private let state: Mutex<State>
    private let batchSizes = Mutex(GroupCommitStatistics())

    init(url: String, lanes: Int, maxBatch: Int, logger: Logger) {
        precondition(lanes > 0 && maxBatch > 0)
        self.url = url
        self.maxBatch = maxBatch
        self.logger = logger
        self.lanes = (0..<lanes).map(Lane.init)
        self.state = Mutex(State(idleLanes: Array((0..<lanes).reversed())))
    }

    /// Batches run, appends they carried, and how large they were.
    var batchStatistics: GroupCommitStatistics { batchSizes.withLock { $0 } }

    func submit(_ request: AppendRequest) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { continuation in
            let wake = state.withLock { state -> Int?? in
                if state.closed { return .none }
                state.pending.append(Pending(request: request, continuation: continuation))
                return .some(state.idleLanes.popLast())
            }
            switch wake {
            case .none:
                continuation.resume(throwing: EventStoreError(code: .closed, message: "the event store is shut down"))
            case .some(.some(let laneIndex)):
                let lane = lanes[laneIndex]
                lane.queue.async { self.drain(lane) }
            case .some(.none):
                break  // every lane is busy; one of them will take it
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
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return batch
            }
            guard let batch else { return }
            batchSizes.withLock { $0.record(batch.count) }
            let results = commit(batch.map(\.request), on: lane)
            for (pending, result) in zip(batch, results) { pending.continuation.resume(with: result) }
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
                let fresh = try PostgresConnection.connectBlocking(url, applicationName: "error-ledger-commit", logger: logger)
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
