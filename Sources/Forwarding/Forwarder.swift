public import EventStore
import Foundation
import Ledger
public import Logging
import OICP
import Postgres
import Synchronization

/// Forwards every committed Start, Progress, End and Error notification to Hubject: at least
/// once, in order and one at a time per session, sessions independent of each other.
///
/// - **Intake.** A gap-safe subscriber with its own checkpoint (`forwarding.checkpoint`): each
///   lifecycle event of a forwarded type becomes a row of `forwarding.deliveries`, in the same
///   transaction that moves the checkpoint. A notification is forwarded if and only if it was
///   committed.
/// - **Dispatch.** Per session, the oldest open delivery goes, when it is due, when no other of
///   the session is in flight, within `maxInFlight` and the rate limit; a Progress waits out its
///   5-minute window (`SessionOutbox`).
/// - **Outcomes** (`DeliveryOutcome`) are events in the session's delivery stream
///   (`delivery-<SessionID>`): `NotificationForwarded` (delivered, or refused by the EMP, with
///   Hubject's code and the latency), `ForwardingAttemptFailed` (reason, next attempt),
///   `NotificationDeadLettered` (not retryable, or the retry budget is spent).
/// - **One active forwarder** across instances: a session advisory lock on the forwarder's own
///   connection; a standby takes over when that connection dies.
///
/// A crash between Hubject's answer and the row's update resends that one notification: the only
/// duplicate at-least-once allows.
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
    /// | `pollInterval` | 200 ms |
    /// | `batchSize` | 1,000 events per intake |
    /// | `standbyRetry` | 1 s between tries for the lock |
    public struct Configuration: Sendable {
        public var types: Set<PendingNotification.Kind>
        public var maxInFlight: Int
        public var perMinute: Int?
        public var progressInterval: Duration
        public var retry: RetryPolicy
        public var pollInterval: Duration
        public var batchSize: Int
        public var standbyRetry: Duration

        public init(
            types: Set<PendingNotification.Kind> = [.start, .progress, .end, .error], maxInFlight: Int = 16, perMinute: Int? = 100,
            progressInterval: Duration = .seconds(300), retry: RetryPolicy = RetryPolicy(), pollInterval: Duration = .milliseconds(200),
            batchSize: Int = 1000, standbyRetry: Duration = .seconds(1)
        ) {
            self.types = types
            self.maxInFlight = maxInFlight
            self.perMinute = perMinute
            self.progressInterval = progressInterval
            self.retry = retry
            self.pollInterval = pollInterval
            self.batchSize = batchSize
            self.standbyRetry = standbyRetry
        }
    }

    public enum Role: String, Sendable {
        case connecting, standby, active, stopped
    }

    static let lockNamespace: Int32 = 0x6C65_6467  // "ledg", as the projectors'
    static let lockName = "forwarder"

    public let configuration: Configuration
    private let store: EventStore
    private let url: String
    private let transport: HubjectTransport
    private let logger: Logger
    private let state = Mutex(State())
    /// Rung when a delivery finishes, so its session's next goes at once, not at the next poll.
    private let doorbell = Doorbell()

    private struct State {
        var role = Role.connecting
        var inFlight: Set<String> = []
    }

    public init(store: EventStore, url: String, transport: HubjectTransport, configuration: Configuration = .init(), logger: Logger = Logger(label: "forwarder")) {
        self.store = store
        self.url = url
        self.transport = transport
        self.configuration = configuration
        self.logger = logger
    }

    public var role: Role { state.withLock { $0.role } }

    /// Runs until the task is cancelled; deliveries in flight then finish.
    public func run() async {
        // Appends NOTIFY `ledger_events`: a new notification is taken in at once, not at the next poll.
        let listener = PostgresListener(url: url, channels: ["ledger_events"], logger: logger)
        listener.start()
        let doorbell = doorbell
        let wakes = Task { for await _ in listener.events { doorbell.ring() } }
        defer {
            listener.stop()
            wakes.cancel()
            state.withLock { $0.role = .stopped }
        }
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(url, applicationName: "error-ledger-forwarder", logger: logger)
                state.withLock { $0.role = .standby }
                while !Task.isCancelled {
                    let locked = try await connection.run { session in
                        try session.query("SELECT pg_try_advisory_lock(\(Self.lockNamespace), hashtext(\(Self.lockName)))").decode(Bool.self, row: 0, column: 0)
                    }
                    if locked { break }
                    try? await Task.sleep(for: configuration.standbyRetry)
                }
                guard !Task.isCancelled else { return }
                state.withLock { $0.role = .active }
                logger.info("forwarder active")
                try await forward(through: connection)
            } catch {
                state.withLock { $0.role = .connecting }
                logger.warning("forwarder failed; reconnecting", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func forward(through connection: PostgresConnection) async throws {
        var limiter = configuration.perMinute.map { RateLimiter(perMinute: $0, now: .now) }
        try await withThrowingDiscardingTaskGroup { group in
            while !Task.isCancelled {
                try await intake(connection)
                let free = configuration.maxInFlight - state.withLock { $0.inFlight.count }
                if free > 0 {
                    for due in try await dueDeliveries(connection, limit: free) {
                        if var bucket = limiter {
                            let wait = bucket.acquire(now: .now)
                            limiter = bucket
                            if wait != nil { break }
                        }
                        state.withLock { _ = $0.inFlight.insert(due.sessionID) }
                        group.addTask { await self.deliver(due) }
                    }
                }
                await doorbell.wait(timeout: configuration.pollInterval)
            }
        }
    }

    // MARK: - Intake

    /// Takes in the next page of committed events: forwarded lifecycle events become deliveries,
    /// in the transaction that moves the checkpoint.
    func intake(_ connection: PostgresConnection) async throws {
        let batchSize = configuration.batchSize
        let types = Dictionary(
            uniqueKeysWithValues: configuration.types.map { (LedgerEventType(recording: NotificationType(rawValue: $0.rawValue)!).rawValue, $0.rawValue) }
        )
        try await connection.run { session in
            let checkpoint = try session.query("SELECT transaction_id, position FROM forwarding.checkpoint")
            let cursor = ReadCursor(transactionID: try checkpoint.decode(row: 0, column: 0), position: try checkpoint.decode(row: 0, column: 1))
            let events = try EventStore.decodeEvents(session.query(EventStore.readAllQuery(after: cursor, limit: batchSize)))
            guard let last = events.last else { return }
            let taken = events.filter { types[$0.eventType] != nil && $0.streamID.hasPrefix("session-") }
            let positions = taken.map { String($0.globalPosition) }
            let ids = taken.map { $0.eventID.uuidString.lowercased() }
            let sessions = taken.map { String($0.streamID.dropFirst("session-".count)) }
            let kinds = taken.map { types[$0.eventType] ?? "" }
            try session.transaction {
                _ = try session.query(
                    """
                    INSERT INTO forwarding.deliveries (position, event_id, session_id, notification_type)
                    SELECT * FROM unnest(\(positions)::bigint[], \(ids)::uuid[], \(sessions)::text[], \(kinds)::text[])
                    ON CONFLICT (position) DO NOTHING
                    """
                )
                _ = try session.query(
                    """
                    UPDATE forwarding.checkpoint SET transaction_id = \(last.transactionID)::xid8, position = \(last.globalPosition), updated_at = now()
                    """
                )
            }
        }
    }

    // MARK: - Dispatch

    struct Due: Sendable {
        var position: Int64
        var sessionID: String
        var kind: PendingNotification.Kind
        var attempts: Int
        /// Seconds since the first attempt, nil before it.
        var age: Double?
    }

    /// The deliveries that may go now, oldest first, at most `limit`: per session not in flight,
    /// the head of its outbox when due. Progress notifications a newer one replaced are marked
    /// `superseded` here.

    func dueDeliveries(_ connection: PostgresConnection, limit: Int) async throws -> [Due] {
        let busy = state.withLock { $0.inFlight }
        // The oldest open deliveries, in store order. Known limit: a session waiting out its
        // Progress window or a retry delay keeps its rows in this window, so 5,000 such rows ahead
        // would hold up every later session until they move (see the README).
        let scan = 5000
        let rows = try await connection.run { session in
            try session.query(
                """
                WITH open AS (
                    SELECT position, session_id, notification_type, attempts, first_attempt_at, next_attempt_at
                      FROM forwarding.deliveries
                     WHERE state IN ('pending', 'retrying')
                     ORDER BY position
                     LIMIT \(scan)),
                progress AS (
                    SELECT session_id, max(finished_at) AS last
                      FROM forwarding.deliveries
                     WHERE session_id IN (SELECT session_id FROM open WHERE notification_type = 'Progress')
                       AND notification_type = 'Progress' AND state = 'delivered'
                     GROUP BY session_id)
                SELECT o.position, o.session_id, o.notification_type, o.attempts,
                       extract(epoch FROM now() - o.first_attempt_at)::float8,
                       o.next_attempt_at <= now(),
                       extract(epoch FROM now() - p.last)::float8
                  FROM open o LEFT JOIN progress p USING (session_id)
                 ORDER BY o.position
                """
            ).rows.map { row in
                (
                    due: Due(
                        position: try row.decode(column: 0), sessionID: try row.decode(column: 1),
                        kind: PendingNotification.Kind(rawValue: try row.decode(column: 2)) ?? .error, attempts: try row.decode(column: 3),
                        age: try row.decode(Double?.self, column: 4)
                    ),
                    ready: try row.decode(Bool.self, column: 5), sinceProgress: try row.decode(Double?.self, column: 6)
                )
            }
        }
        let now = ContinuousClock.now
        var outboxes: [String: SessionOutbox] = [:]
        var order: [String] = []
        var byPosition: [Int64: (due: Due, ready: Bool)] = [:]
        for row in rows where !busy.contains(row.due.sessionID) {
            if outboxes[row.due.sessionID] == nil {
                var outbox = SessionOutbox(progressInterval: configuration.progressInterval)
                if let since = row.sinceProgress { outbox.progressAccepted(at: now - .milliseconds(Int64(since * 1000))) }
                outboxes[row.due.sessionID] = outbox
                order.append(row.due.sessionID)
            }
            outboxes[row.due.sessionID]?.append(PendingNotification(position: row.due.position, kind: row.due.kind))
            byPosition[row.due.position] = (row.due, row.ready)
        }
        var due: [Due] = []
        var superseded: [Int64] = []
        for sessionID in order {
            guard var outbox = outboxes[sessionID] else { continue }
            switch outbox.next(now: now) {
            case .send(let head, let replaced):
                superseded += replaced.map(\.position)
                if let entry = byPosition[head.position], entry.ready { due.append(entry.due) }
            case .hold(_, let replaced):
                superseded += replaced.map(\.position)
            case .empty:
                break
            }
        }
        if !superseded.isEmpty {
            let positions = superseded.map(String.init)
            try await connection.run { session in
                _ = try session.query(
                    """
                    UPDATE forwarding.deliveries SET state = 'superseded', finished_at = now(),
                           reason = 'a newer Progress of the session replaced it inside the 5-minute window'
                     WHERE position = ANY(\(positions)::bigint[]) AND state IN ('pending', 'retrying')
                    """
                )
            }
        }
        return Array(due.sorted { $0.position < $1.position }.prefix(limit))
    }

    // MARK: - Delivery

    private func deliver(_ due: Due) async {
        defer {
            state.withLock { _ = $0.inFlight.remove(due.sessionID) }
            doorbell.ring()
        }
        do {
            let position = due.position
            let body = try await store.pool.run { session in
                try session.query("SELECT (data->'notification')::text FROM ledger.events WHERE global_position = \(position)")
                    .decode(String.self, row: 0, column: 0)
            }
            let result = await transport.send(Array(body.utf8))
            try await record(due, result: result, outcome: DeliveryOutcome.classify(result))
        } catch {
            logger.warning("delivery failed before an outcome was recorded; it will be tried again", metadata: [
                "position": "\(due.position)", "error": "\(error)",
            ])
        }
    }

    private func record(_ due: Due, result: TransportResult, outcome: DeliveryOutcome) async throws {
        let attempt = due.attempts + 1
        var latency: Int64 = 0
        if case .response(_, _, _, let elapsed) = result { latency = elapsed.milliseconds }
        var fields: [(key: String, value: JSONValue)] = [
            ("session_id", .string(due.sessionID)), ("position", .number(String(due.position))),
            ("notification_type", .string(due.kind.rawValue)), ("attempt", .number(String(attempt))),
        ]
        let eventType: String
        let update: PostgresQuery
        let position = due.position
        /// A dead letter: final, with its reason.
        func deadLetter(_ reason: String) -> PostgresQuery {
            """
            UPDATE forwarding.deliveries SET state = 'dead', attempts = \(attempt), reason = \(reason),
                   first_attempt_at = coalesce(first_attempt_at, now()), finished_at = now()
             WHERE position = \(position)
            """
        }
        switch outcome {
        case .delivered(let ack), .refusedByEMP(let ack):
            let delivered: Bool = if case .delivered = outcome { true } else { false }
            eventType = "NotificationForwarded"
            fields += [
                ("outcome", .string(delivered ? "delivered" : "refused_by_emp")), ("result", .bool(ack.result)),
                ("status_code", .string(ack.statusCode.code)), ("latency_ms", .number(String(latency))),
            ]
            let state = delivered ? "delivered" : "refused"
            let code = ack.statusCode.code
            update = """
                UPDATE forwarding.deliveries SET state = \(state), attempts = \(attempt), status_code = \(code),
                       first_attempt_at = coalesce(first_attempt_at, now()), finished_at = now(), reason = NULL
                 WHERE position = \(position)
                """
        case .retryable(let reason, let retryAfter):
            let firstAttempt = ContinuousClock.now - .milliseconds(Int64((due.age ?? 0) * 1000))
            if configuration.retry.allowsRetry(attempts: attempt, firstAttempt: firstAttempt, now: .now) {
                var random = SystemRandomNumberGenerator()
                let delay = configuration.retry.delay(afterAttempt: attempt, retryAfter: retryAfter, random: &random)
                let nextAt = Date().addingTimeInterval(delay.seconds)
                eventType = "ForwardingAttemptFailed"
                fields += [("reason", .string(reason)), ("next_attempt_at", .string(rfc3339(nextAt))), ("latency_ms", .number(String(latency)))]
                let milliseconds = delay.milliseconds
                update = """
                    UPDATE forwarding.deliveries SET state = 'retrying', attempts = \(attempt), reason = \(reason),
                           first_attempt_at = coalesce(first_attempt_at, now()),
                           next_attempt_at = now() + \(milliseconds) * interval '1 millisecond'
                     WHERE position = \(position)
                    """
            } else {
                let why = "retry budget spent after \(attempt) attempts: \(reason)"
                eventType = "NotificationDeadLettered"
                fields += [("reason", .string(why))]
                update = deadLetter(why)
            }
        case .deadLetter(let reason):
            eventType = "NotificationDeadLettered"
            fields += [("reason", .string(reason))]
            update = deadLetter(reason)
        }
        let data = JSONValue.object(JSONObject(fields)).serialized()
        _ = try await store.append(to: "delivery-\(due.sessionID)", events: [NewEvent(type: eventType, data: data)])
        _ = try await store.pool.run { session in try session.query(update) }
    }
}
