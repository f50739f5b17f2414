public import EventStore
import Foundation
import Ledger
public import Logging
import OICP
public import Postgres
import Synchronization

/// Forwards every committed Start, Progress, End and Error notification to Hubject: at least
/// once, in order and one at a time per session, sessions independent of each other.
///
/// - **Intake.** A gap-safe subscriber with its own checkpoint (`forwarding.checkpoint`): each
///   lifecycle event of a forwarded type becomes a row of `forwarding.deliveries`, in the same
///   transaction that moves the checkpoint. A notification is forwarded if and only if it was
///   committed. A `DeliveryRetryRequested` event (an operator's retry) opens its dead letter again.
/// - **Dispatch.** The active forwarder holds the open deliveries in memory (`DeliveryBacklog`,
///   up to `window` of them; the rest wait in the table, in order). Per session, the oldest goes
///   when it is due, when no other of the session is in flight, within `maxInFlight` and the
///   rate limit; a Progress waits out its 5-minute window. A 429 from Hubject pauses every
///   session until its `Retry-After` (1 s when absent): the limit is the partner's, not the
///   notification's.
/// - **Outcomes** (`DeliveryOutcome`) are events in the session's delivery stream
///   (`delivery-<SessionID>`), committed with the delivery's row (`OutcomeRecorder`):
///   `NotificationForwarded` (delivered, or refused by the EMP, with Hubject's code and the
///   latency), `ForwardingAttemptFailed` (reason, next attempt), `NotificationDeadLettered`
///   (not retryable, or the retry budget is spent), `NotificationSuperseded` (a held Progress a
///   newer one replaced). A session's next notification goes only once the outcome is durable.
/// - **One active forwarder** across instances: a session advisory lock on the forwarder's own
///   connection; a standby takes over when that connection dies.
///
/// A crash between Hubject's answer and the outcome's commit resends that one notification: the
/// only duplicate at-least-once allows, at most one per session and `maxInFlight` in all.
public final class Forwarder: Sendable {
    /// Forwarder settings.
    ///
    /// | key | default |
    /// | --- | --- |
    /// | `types` | all four |
    /// | `maxInFlight` | 16 notifications at once, across sessions |
    /// | `perMinute` | 100 (Hubject's limit per partner); nil: no limit |
    /// | `progressInterval` | 5 min between a session's Progress notifications |
    /// | `retry` | `RetryPolicy()`: 2 s doubling to 5 min, jittered; 12 attempts or 24 h |
    /// | `window` | 50,000 open deliveries held in memory |
    /// | `pollInterval` | 200 ms (appends also wake it, through NOTIFY) |
    /// | `batchSize` | 1,000 events per intake |
    /// | `standbyRetry` | 1 s between tries for the lock |
    /// | `clock` | `WallClock()`; tests pass one they move |
    public struct Configuration: Sendable {
        public var types: Set<PendingNotification.Kind>
        public var maxInFlight: Int
        public var perMinute: Int?
        public var progressInterval: Duration
        public var retry: RetryPolicy
        public var window: Int
        public var pollInterval: Duration
        public var batchSize: Int
        public var standbyRetry: Duration
        public var clock: any ForwardingClock
        /// The connection's network timeout (`SessionSettings`); `serve` passes its own.
        public var settings = SessionSettings()

        public init(
            types: Set<PendingNotification.Kind> = Set(PendingNotification.Kind.allCases), maxInFlight: Int = 16, perMinute: Int? = 100,
            progressInterval: Duration = .seconds(300), retry: RetryPolicy = RetryPolicy(), window: Int = 50_000,
            pollInterval: Duration = .milliseconds(200), batchSize: Int = 1000, standbyRetry: Duration = .seconds(1),
            clock: any ForwardingClock = WallClock()
        ) {
            self.types = types
            self.maxInFlight = maxInFlight
            self.perMinute = perMinute
            self.progressInterval = progressInterval
            self.retry = retry
            self.window = window
            self.pollInterval = pollInterval
            self.batchSize = batchSize
            self.standbyRetry = standbyRetry
            self.clock = clock
        }
    }

    public enum Role: String, Sendable {
        case connecting, standby, active, stopped
    }

    /// The intake's subscription: its lock makes this forwarder the active one.
    /// The intake reads which EVSE and operator a notification names, never its bytes (`body`).
    static let intake = Subscription(name: "forwarder", checkpoints: ["forwarding.checkpoint"], omittingData: [RecordedNotification.Key.body])

    public let configuration: Configuration
    let store: EventStore
    private let url: String
    let transport: HubjectTransport
    let logger: Logger
    let state = Mutex(State())
    let statistics = Mutex(ForwardingStatistics())
    /// Rung when a delivery's outcome is recorded (its session's next may go) and on appends.
    let wake = WakeSignal()

    struct State {
        var role = Role.connecting
        var backlog = DeliveryBacklog()
        /// Hubject answered 429: its limit is per partner, so nothing goes before this instant.
        var pausedUntil: Date?
    }

    public init(store: EventStore, url: String, transport: HubjectTransport, configuration: Configuration = .init(), logger: Logger = Logger(label: "forwarder")) {
        self.store = store
        self.url = url
        self.transport = transport
        self.configuration = configuration
        self.logger = logger
    }

    public var role: Role { state.withLock { $0.role } }

    /// What this forwarder has done since it started, and holds now.
    public var currentStatistics: ForwardingStatistics {
        let (held, inFlight, role) = state.withLock { ($0.backlog.count, $0.backlog.inFlightCount, $0.role) }
        var snapshot = statistics.withLock { $0 }
        snapshot.held = held
        snapshot.inFlight = inFlight
        snapshot.role = role
        return snapshot
    }

    /// Runs until the task is cancelled; deliveries in flight then finish and are recorded.
    public func run() async {
        // Appends NOTIFY: a new notification is taken in at once, not at the next poll.
        let following = store.changes.follow(wake)
        defer {
            following.cancel()
            state.withLock { $0.role = .stopped }
        }
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(url, applicationName: "error-ledger-forwarder", settings: configuration.settings, logger: logger)
                state.withLock { $0.role = .standby }
                while !Task.isCancelled {
                    if try await connection.run({ try Subscription.tryLock(Self.intake.name, on: $0) }) { break }
                    try? await Task.sleep(for: configuration.standbyRetry)
                }
                guard !Task.isCancelled else { return }
                state.withLock { $0.role = .active }
                logger.info("forwarder active")
                try await forward(through: connection)
            } catch {
                state.withLock { $0.role = .connecting }
                logger.warning("forwarder failed; reconnecting", metadata: LogMetadata.error(error))
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// The active forwarder's loop: intake, load, dispatch, wait.
    private func forward(through connection: PostgresConnection) async throws {
        let recorder = OutcomeRecorder(pool: store.pool, logger: logger)
        let recording = Task { await recorder.run() }
        var loader = Loader()
        var checkpoint: [ReadCursor]?
        state.withLock { $0.backlog = DeliveryBacklog(progressInterval: configuration.progressInterval.seconds) }
        do {
            try await withThrowingDiscardingTaskGroup { group in
                var limiter = configuration.perMinute.map { RateLimiter(perMinute: $0, now: configuration.clock.now()) }
                while !Task.isCancelled {
                    let seen = wake.generation
                    let taken = try await intake(connection, known: &checkpoint)
                    if !taken.reopened.isEmpty { try await load(connection, positions: taken.reopened) }
                    if taken.inserted > 0 { loader.moreInTable = true }
                    try await refill(connection, &loader)
                    let superseded = state.withLock { $0.backlog.takeSuperseded() }
                    if !superseded.isEmpty {
                        statistics.withLock { $0.superseded += superseded.count }
                        let records = try await supersededRecords(connection, superseded)
                        group.addTask { for record in records { try? await recorder.record(record) } }
                    }
                    let (due, dueAt) = takeDue(&limiter)
                    if !due.isEmpty {
                        for delivery in try await prepare(due) {
                            group.addTask { await self.deliver(delivery, recorder: recorder) }
                        }
                    }
                    var timeout = configuration.pollInterval
                    if let dueAt {
                        timeout = min(timeout, .milliseconds(max(1, Int64(dueAt.timeIntervalSince(configuration.clock.now()) * 1000))))
                    }
                    await wake.wait(after: seen, timeout: timeout)
                }
            }
        } catch {
            recorder.close()
            await recording.value
            throw error
        }
        recorder.close()
        await recording.value
    }
}
