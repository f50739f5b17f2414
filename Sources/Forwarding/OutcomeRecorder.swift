import EventStore
import Foundation
import JSON
import Ledger
import Logging
import OICP
import Postgres
import Synchronization

/// What one forwarding step changes: an event in the session's delivery stream and the
/// delivery's row, committed together.
struct DeliveryRecord: Sendable {
    var append: AppendRequest
    var row: RowUpdate

    /// A `forwarding.deliveries` row's new state.
    struct RowUpdate: Sendable {
        var position: Int64
        var state: String
        var attempts: Int
        var statusCode: String?
        var reason: String?
        var firstAttemptAt: Date?
        var nextAttemptAt: Date?
        var finishedAt: Date?

        var json: JSONValue {
            func time(_ date: Date?) -> JSONValue { date.map { .string(rfc3339($0)) } ?? .null }
            return .object(
                JSONObject([
                    ("position", .number(String(position))), ("state", .string(state)), ("attempts", .number(String(attempts))),
                    ("status_code", statusCode.map(JSONValue.string) ?? .null), ("reason", reason.map(JSONValue.string) ?? .null),
                    ("first_attempt_at", time(firstAttemptAt)), ("next_attempt_at", time(nextAttemptAt)), ("finished_at", time(finishedAt)),
                ])
            )
        }
    }
}

/// Commits delivery records in batches: every record waiting when a commit starts goes in it,
/// one transaction for the events and the rows (group commit for the forwarder's outcomes).
///
/// A record is durable when `record` returns; only then may its session's next notification go,
/// so a crash can resend at most the notification that was in flight. A failed batch is tried
/// record by record (one bad record holds up only its session), and what still fails is tried
/// again, with a growing pause, until it succeeds or the recorder is closed. Event ids are derived
/// from the delivery, its round and its attempt, so a commit that did land before its connection
/// broke is not recorded twice.
final class OutcomeRecorder: Sendable {
    private struct Waiting {
        let record: DeliveryRecord
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var closed = false
    }

    struct Closed: Error, CustomStringConvertible {
        var description: String { "the forwarder stopped before the outcome was recorded" }
    }

    private let pool: PostgresPool
    private let logger: Logger
    private let state = Mutex(State())
    private let wake = WakeSignal()
    private let maxBatch = 256

    init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Returns once the record is committed; throws `Closed` if the recorder closed first.
    func record(_ record: DeliveryRecord) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = state.withLock { state in
                guard !state.closed else { return false }
                state.queue.append(Waiting(record: record, continuation: continuation))
                return true
            }
            if accepted { wake.ring() } else { continuation.resume(throwing: Closed()) }
        }
    }

    /// Commits until closed, then commits what is left once and fails the rest.
    func run() async {
        while true {
            let seen = wake.generation
            let (batch, closed) = state.withLock { state in
                let batch = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(batch.count)
                return (batch, state.closed)
            }
            if batch.isEmpty {
                if closed { return }
                await wake.wait(after: seen, timeout: .seconds(1))
                continue
            }
            var pending = batch
            var pause = Duration.milliseconds(100)
            while !pending.isEmpty {
                do {
                    try await commit(pending.map(\.record))
                    for waiting in pending { waiting.continuation.resume() }
                    pending = []
                } catch {
                    if state.withLock({ $0.closed }) {
                        for waiting in pending { waiting.continuation.resume(throwing: error) }
                        break
                    }
                    if pending.count > 1 {
                        // One by one, so a record that cannot commit holds up only its own session.
                        var failed: [Waiting] = []
                        for waiting in pending {
                            do {
                                try await commit([waiting.record])
                                waiting.continuation.resume()
                            } catch {
                                failed.append(waiting)
                            }
                        }
                        pending = failed
                        if pending.isEmpty { break }
                    }
                    logger.warning("could not record forwarding outcomes; trying again", metadata: LogMetadata.error(error, ["records": "\(pending.count)"]))
                    try? await Task.sleep(for: pause)
                    pause = min(pause * 2, .seconds(5))
                }
            }
        }
    }

    /// Stops taking records; `run` returns once what was queued is committed (or failed once).
    func close() {
        state.withLock { $0.closed = true }
        wake.ring()
    }

    private func commit(_ records: [DeliveryRecord]) async throws {
        let rows = JSONValue.array(records.map(\.row.json)).serialized()
        let appends = records.map(\.append)
        try await pool.run { session in
            try session.transaction {
                _ = try EventStore.append(appends, on: session)
                _ = try session.query(
                    """
                    UPDATE forwarding.deliveries d
                       SET state = r.state, attempts = r.attempts, status_code = r.status_code, reason = r.reason,
                           first_attempt_at = r.first_attempt_at, next_attempt_at = coalesce(r.next_attempt_at, d.next_attempt_at),
                           finished_at = r.finished_at
                      FROM jsonb_to_recordset(\(rows)::jsonb) AS r(
                               position bigint, state text, attempts integer, status_code text, reason text,
                               first_attempt_at timestamptz, next_attempt_at timestamptz, finished_at timestamptz)
                     WHERE d.position = r.position
                    """
                )
            }
        }
    }
}
