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

    static let lockNamespace: Int32 = 0x6C65_6467  // "ledg", as the projectors'
    static let lockName = "forwarder"

    public let configuration: Configuration
    private let store: EventStore
    private let url: String
    private let transport: HubjectTransport
    private let logger: Logger
    private let state = Mutex(State())
    private let statistics = Mutex(ForwardingStatistics())
    /// Rung when a delivery's outcome is recorded (its session's next may go) and on appends.
    private let doorbell = Doorbell()

    private struct State {
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
                let connection = try await PostgresConnection.connect(url, applicationName: "error-ledger-forwarder", settings: configuration.settings, logger: logger)
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

    /// The active forwarder's loop: intake, load, dispatch, wait.
    private func forward(through connection: PostgresConnection) async throws {
        let recorder = OutcomeRecorder(pool: store.pool, logger: logger)
        let recording = Task { await recorder.run() }
        var loader = Loader()
        state.withLock { $0.backlog = DeliveryBacklog(progressInterval: configuration.progressInterval.seconds) }
        do {
            try await withThrowingDiscardingTaskGroup { group in
                var limiter = configuration.perMinute.map { RateLimiter(perMinute: $0, now: configuration.clock.now()) }
                while !Task.isCancelled {
                    let taken = try await intake(connection)
                    if !taken.reopened.isEmpty { try await load(connection, positions: taken.reopened) }
                    if taken.inserted > 0 { loader.moreInTable = true }
                    try await refill(connection, &loader)
                    let superseded = state.withLock { $0.backlog.takeSuperseded() }
                    if !superseded.isEmpty {
                        statistics.withLock { $0.superseded += superseded.count }
                        let records = try await supersededRecords(connection, superseded)
                        group.addTask { for record in records { try? await recorder.record(record) } }
                    }
                    let (due, wake) = takeDue(&limiter)
                    if !due.isEmpty {
                        for delivery in try await prepare(connection, due) {
                            group.addTask { await self.deliver(delivery, recorder: recorder) }
                        }
                    }
                    var timeout = configuration.pollInterval
                    if let wake {
                        timeout = min(timeout, .milliseconds(max(1, Int64(wake.timeIntervalSince(configuration.clock.now()) * 1000))))
                    }
                    await doorbell.wait(timeout: timeout)
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

    // MARK: - Intake

    /// Takes in the next page of committed events: forwarded lifecycle events become deliveries,
    /// and retry requests open their dead letters again, in the transaction that moves the
    /// checkpoint.
    func intake(_ connection: PostgresConnection) async throws -> (inserted: Int, reopened: [Int64]) {
        let batchSize = configuration.batchSize
        let types = Dictionary(
            uniqueKeysWithValues: configuration.types.map { (LedgerEventType(recording: NotificationType(rawValue: $0.rawValue)!).rawValue, $0.rawValue) }
        )
        let now = configuration.clock.now()
        return try await connection.run { session in
            let checkpoint = try session.query("SELECT transaction_id, position FROM forwarding.checkpoint")
            let cursor = ReadCursor(transactionID: try checkpoint.decode(row: 0, column: 0), position: try checkpoint.decode(row: 0, column: 1))
            let events = try EventStore.decodeEvents(session.query(EventStore.readAllQuery(after: cursor, limit: batchSize)))
            guard let last = events.last else { return (0, []) }
            let taken = events.filter { types[$0.eventType] != nil && $0.streamID.hasPrefix("session-") }
            let positions = taken.map { String($0.globalPosition) }
            let ids = taken.map { $0.eventID.uuidString.lowercased() }
            let sessions = taken.map { String($0.streamID.dropFirst("session-".count)) }
            let kinds = taken.map { types[$0.eventType] ?? "" }
            let retries = events.filter { $0.eventType == LedgerEventType.deliveryRetryRequested.rawValue }.compactMap { event in
                (try? JSONParser.parse(Array(event.data.utf8), maxDepth: 8, maxBytes: 65_536))?.objectValue?["position"]?.numberText
            }
            return try session.transaction {
                let inserted = try session.query(
                    """
                    INSERT INTO forwarding.deliveries (position, event_id, session_id, notification_type, next_attempt_at)
                    SELECT p, i, s, k, \(now) FROM unnest(\(positions)::bigint[], \(ids)::uuid[], \(sessions)::text[], \(kinds)::text[]) AS t(p, i, s, k)
                    ON CONFLICT (position) DO NOTHING
                    """
                ).affectedRows
                var reopened: [Int64] = []
                if !retries.isEmpty {
                    reopened = try session.query(
                        """
                        UPDATE forwarding.deliveries
                           SET state = 'pending', attempts = 0, first_attempt_at = NULL, next_attempt_at = \(now), finished_at = NULL,
                               status_code = NULL, reason = 'sent again on an operator''s request'
                         WHERE position = ANY(\(retries)::bigint[]) AND state = 'dead'
                        RETURNING position
                        """
                    ).rows.map { try $0.decode(Int64.self, column: 0) }
                }
                _ = try session.query(
                    """
                    UPDATE forwarding.checkpoint SET transaction_id = \(last.transactionID)::xid8, position = \(last.globalPosition), updated_at = now()
                    """
                )
                return (inserted, reopened)
            }
        }
    }

    // MARK: - Loading into memory

    /// Where loading from the table stands: every open delivery taken in at or before
    /// `loadedThrough` (its `intake_seq`: intake order, which positions are not) is in memory,
    /// in flight, or finished.
    struct Loader {
        var loadedThrough: Int64 = 0
        var moreInTable = true
    }

    private static let openRowColumns = """
        d.position, d.session_id, d.notification_type, d.attempts, d.first_attempt_at, d.next_attempt_at,
        CASE WHEN d.notification_type = 'Progress' THEN
            (SELECT max(p.finished_at) FROM forwarding.deliveries p
              WHERE p.session_id = d.session_id AND p.notification_type = 'Progress' AND p.state = 'delivered') END,
        d.intake_seq
        """

    /// Loads the next open deliveries in intake order, while the window has room.
    private func refill(_ connection: PostgresConnection, _ loader: inout Loader) async throws {
        guard loader.moreInTable else { return }
        let room = configuration.window - state.withLock { $0.backlog.count }
        guard room > 0 else { return }
        let limit = min(room, 5000)
        let after = loader.loadedThrough
        let result = try await connection.run { session in
            try session.query(
                """
                SELECT \(unsafeRaw: Self.openRowColumns)
                  FROM forwarding.deliveries d
                 WHERE d.state IN ('pending', 'retrying') AND d.intake_seq > \(after)
                 ORDER BY d.intake_seq LIMIT \(limit)
                """
            )
        }
        let last = try add(result)
        if let last { loader.loadedThrough = last }
        loader.moreInTable = result.rowCount == limit
    }

    /// Loads open deliveries by position (ones an operator's retry opened again).
    private func load(_ connection: PostgresConnection, positions: [Int64]) async throws {
        let list = positions.map(String.init)
        let result = try await connection.run { session in
            try session.query(
                "SELECT \(unsafeRaw: Self.openRowColumns) FROM forwarding.deliveries d WHERE d.state IN ('pending', 'retrying') AND d.position = ANY(\(list)::bigint[])"
            )
        }
        _ = try add(result)
    }

    /// Adds rows of `openRowColumns` to the backlog; returns the last row's `intake_seq`.
    private func add(_ result: PostgresResult) throws -> Int64? {
        var rows: [(String, PendingNotification, Date?)] = []
        var last: Int64?
        for row in result.rows {
            let attempts = try row.decode(Int.self, column: 3)
            // Not tried yet: due at once (the stored time is rounded to microseconds, which could
            // put it a hair after the clock that wrote it).
            let notBefore = attempts == 0 ? Date.distantPast : try row.decode(Date.self, column: 5)
            let notification = PendingNotification(
                position: try row.decode(column: 0), kind: PendingNotification.Kind(rawValue: try row.decode(column: 2)) ?? .error,
                attempts: attempts, firstAttemptAt: try row.decode(Date?.self, column: 4), notBefore: notBefore
            )
            rows.append((try row.decode(column: 1), notification, try row.decode(Date?.self, column: 6)))
            last = try row.decode(Int64.self, column: 7)
        }
        state.withLock { state in
            for (session, notification, lastProgress) in rows where !state.backlog.contains(session: session, position: notification.position) {
                state.backlog.add(notification, session: session, lastProgressAccepted: lastProgress)
            }
        }
        return last
    }

    // MARK: - Dispatch

    /// A delivery about to go: its notification, and what the attempt needs.
    struct Delivery: Sendable {
        var session: String
        var notification: PendingNotification
        var eventID: UUID
        var body: String
        /// When the notification was committed (the event's `recorded_at`).
        var committedAt: Date
    }

    /// Takes the deliveries that may go now, within `maxInFlight` and the rate limit; says when
    /// to look again if something waits.
    private func takeDue(_ limiter: inout RateLimiter?) -> (due: [(session: String, notification: PendingNotification)], wake: Date?) {
        let now = configuration.clock.now()
        let maxInFlight = configuration.maxInFlight
        return state.withLock { state in
            if let paused = state.pausedUntil, now < paused { return ([], paused) }
            var due: [(session: String, notification: PendingNotification)] = []
            while state.backlog.inFlightCount < maxInFlight {
                if let later = limiter?.nextToken(now: now) { return (due, later) }
                switch state.backlog.next(now: now) {
                case .send(let session, let notification):
                    _ = limiter?.acquire(now: now)
                    due.append((session, notification))
                case .idle(let until):
                    return (due, until)
                }
            }
            return (due, nil)
        }
    }

    /// Reads the bodies of the deliveries about to go, in one query.
    private func prepare(_ connection: PostgresConnection, _ due: [(session: String, notification: PendingNotification)]) async throws -> [Delivery] {
        let positions = due.map { String($0.notification.position) }
        let found = try await connection.run { session in
            // The bytes as received (`body`); events from before it was kept send their jsonb rendering.
            try session.query(
                """
                SELECT global_position, event_id, coalesce(data->>'body', (data->'notification')::text), recorded_at
                  FROM ledger.events WHERE global_position = ANY(\(positions)::bigint[])
                """
            ).rows.map { row in
                (position: try row.decode(Int64.self, column: 0), id: try row.decode(UUID.self, column: 1), body: try row.decode(String.self, column: 2),
                 committed: try row.decode(Date.self, column: 3))
            }
        }
        let byPosition = Dictionary(found.map { ($0.position, $0) }, uniquingKeysWith: { a, _ in a })
        var deliveries: [Delivery] = []
        for (session, notification) in due {
            guard let event = byPosition[notification.position] else {
                logger.error("a delivery's event is missing from the store", metadata: ["position": "\(notification.position)"])
                state.withLock { $0.backlog.released(session: session) }
                continue
            }
            deliveries.append(Delivery(session: session, notification: notification, eventID: event.id, body: event.body, committedAt: event.committed))
        }
        return deliveries
    }

    // MARK: - Delivery

    private func deliver(_ delivery: Delivery, recorder: OutcomeRecorder) async {
        let result = await transport.send(Array(delivery.body.utf8))
        let outcome = DeliveryOutcome.classify(result)
        let now = configuration.clock.now()
        if case .response(429, _, let retryAfter, _) = result {
            // Too many requests is about the partner, not this notification: every session waits.
            let until = now.addingTimeInterval(configuration.retry.honoured(retryAfter: retryAfter ?? 1).seconds)
            state.withLock { $0.pausedUntil = max($0.pausedUntil ?? until, until) }
            logger.warning("Hubject answered 429: forwarding pauses", metadata: ["until": "\(rfc3339(until))"])
        }
        let decided = decide(delivery, result: result, outcome: outcome, now: now)
        do {
            try await recorder.record(decided.record)
        } catch {
            // Not recorded: the forwarder is stopping; the row still says open, so whoever is
            // active next sends it again (the bounded duplicate).
            logger.warning("forwarding outcome not recorded; the notification will go again", metadata: [
                "position": "\(delivery.notification.position)", "error": "\(error)",
            ])
            state.withLock { $0.backlog.released(session: delivery.session) }
            doorbell.ring()
            return
        }
        statistics.withLock { $0.count(outcome, result: result, committedAt: delivery.committedAt, answeredAt: now) }
        state.withLock { state in
            switch decided.next {
            case .completed(let acceptedAt):
                state.backlog.completed(session: delivery.session, position: delivery.notification.position, acceptedAt: acceptedAt)
            case .retry(let attempts, let firstAttemptAt, let notBefore):
                state.backlog.retry(
                    session: delivery.session, position: delivery.notification.position, attempts: attempts, firstAttemptAt: firstAttemptAt, notBefore: notBefore
                )
            }
        }
        doorbell.ring()
    }

    enum Next {
        case completed(acceptedAt: Date?)
        case retry(attempts: Int, firstAttemptAt: Date, notBefore: Date)
    }

    /// The event and row an attempt's outcome comes to, and what the session does next.
    func decide(_ delivery: Delivery, result: TransportResult, outcome: DeliveryOutcome, now: Date) -> (record: DeliveryRecord, next: Next) {
        let notification = delivery.notification
        let attempt = notification.attempts + 1
        let firstAttemptAt = notification.firstAttemptAt ?? now
        var latency: Int64 = 0
        if case .response(_, _, _, let elapsed) = result { latency = elapsed.milliseconds }
        var fields: [(key: String, value: JSONValue)] = [
            ("session_id", .string(delivery.session)), ("event_id", .string(delivery.eventID.uuidString.lowercased())),
            ("position", .number(String(notification.position))), ("notification_type", .string(notification.kind.rawValue)),
            ("attempt", .number(String(attempt))), ("at", .string(rfc3339(now))),
        ]
        var row = DeliveryRecord.RowUpdate(position: notification.position, state: "", attempts: attempt, firstAttemptAt: firstAttemptAt, finishedAt: now)
        // Hubject's code, when a failed attempt's answer was an acknowledgement.
        if case .response(_, let body, _, _) = result, let ack = try? JSONDecoder().decode(Acknowledgement.self, from: Data(body)) {
            row.statusCode = ack.statusCode.code
        }
        let type: LedgerEventType
        let next: Next
        func deadLetter(_ reason: String) {
            fields += [("reason", .string(reason))]
            row.state = "dead"
            row.reason = reason
        }
        switch outcome {
        case .delivered(let ack), .refusedByEMP(let ack):
            let delivered: Bool = if case .delivered = outcome { true } else { false }
            type = .notificationForwarded
            fields += [
                ("outcome", .string(delivered ? "delivered" : "refused_by_emp")), ("result", .bool(ack.result)),
                ("status_code", .string(ack.statusCode.code)), ("latency_ms", .number(String(latency))),
            ]
            if let description = ack.statusCode.description { fields.append(("status_description", .string(description))) }
            row.state = delivered ? "delivered" : "refused"
            row.statusCode = ack.statusCode.code
            next = .completed(acceptedAt: delivered ? now : nil)
        case .retryable(let reason, let retryAfter):
            if configuration.retry.allowsRetry(attempts: attempt, firstAttempt: firstAttemptAt, now: now) {
                var random = SystemRandomNumberGenerator()
                let delay = configuration.retry.delay(afterAttempt: attempt, retryAfter: retryAfter, random: &random)
                let nextAt = now.addingTimeInterval(delay.seconds)
                type = .forwardingAttemptFailed
                fields += [("reason", .string(reason)), ("next_attempt_at", .string(rfc3339(nextAt))), ("latency_ms", .number(String(latency)))]
                row.state = "retrying"
                row.reason = reason
                row.nextAttemptAt = nextAt
                row.finishedAt = nil
                next = .retry(attempts: attempt, firstAttemptAt: firstAttemptAt, notBefore: nextAt)
            } else {
                type = .notificationDeadLettered
                deadLetter("retry budget spent after \(attempt) attempts: \(reason)")
                next = .completed(acceptedAt: nil)
            }
        case .deadLetter(let reason):
            type = .notificationDeadLettered
            deadLetter(reason)
            next = .completed(acceptedAt: nil)
        }
        // One id per attempt, so a commit tried again after its connection broke is not recorded
        // twice. The round's first attempt is in it: an operator's retry starts counting afresh.
        let round = Int64((firstAttemptAt.timeIntervalSince1970 * 1_000_000).rounded())
        let event = NewEvent(
            id: EventIdentity.nameBased("forwarding\u{1F}\(notification.position)\u{1F}\(round)\u{1F}\(attempt)"), type: type.rawValue,
            data: JSONValue.object(JSONObject(fields)).serialized()
        )
        return (DeliveryRecord(append: AppendRequest(stream: StreamName.delivery(delivery.session), events: [event]), row: row), next)
    }

    /// The records of Progress notifications a newer one replaced.
    private func supersededRecords(_ connection: PostgresConnection, _ superseded: [PendingNotification]) async throws -> [DeliveryRecord] {
        let positions = superseded.map { String($0.position) }
        let rows = try await connection.run { session in
            try session.query("SELECT position, session_id, event_id FROM forwarding.deliveries WHERE position = ANY(\(positions)::bigint[])").rows.map {
                (try $0.decode(Int64.self, column: 0), try $0.decode(String.self, column: 1), try $0.decode(UUID.self, column: 2))
            }
        }
        let now = configuration.clock.now()
        let reason = "a newer Progress of the session replaced it inside Hubject's 5-minute window; only the newest is sent"
        return rows.map { position, session, eventID in
            let fields: [(key: String, value: JSONValue)] = [
                ("session_id", .string(session)), ("event_id", .string(eventID.uuidString.lowercased())), ("position", .number(String(position))),
                ("notification_type", .string("Progress")), ("at", .string(rfc3339(now))), ("reason", .string(reason)),
            ]
            let event = NewEvent(
                id: EventIdentity.nameBased("forwarding-superseded\u{1F}\(position)"), type: LedgerEventType.notificationSuperseded.rawValue,
                data: JSONValue.object(JSONObject(fields)).serialized()
            )
            let row = DeliveryRecord.RowUpdate(position: position, state: "superseded", attempts: 0, reason: reason, finishedAt: now)
            return DeliveryRecord(append: AppendRequest(stream: StreamName.delivery(session), events: [event]), row: row)
        }
    }
}

/// What a forwarder has done since it started (for `/metrics`), and what it holds now.
public struct ForwardingStatistics: Sendable {
    /// Upper bounds (seconds) of the latency histograms' buckets.
    public static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600]

    public struct Histogram: Sendable {
        public var counts = [Int](repeating: 0, count: ForwardingStatistics.bounds.count)
        public var sum = 0.0
        public var count = 0

        mutating func observe(_ seconds: Double) {
            if let index = ForwardingStatistics.bounds.firstIndex(where: { seconds <= $0 }) { counts[index] += 1 }
            sum += seconds
            count += 1
        }
    }

    /// Attempts by outcome: `delivered`, `refused_by_emp`, `retryable`, `dead_letter`.
    public var attempts: [String: Int] = [:]
    public var superseded = 0
    /// Hubject's answer time per attempt that got an HTTP response.
    public var requestSeconds = Histogram()
    /// From the notification's commit to Hubject's acknowledgement, per delivered notification.
    public var deliverySeconds = Histogram()
    /// Open deliveries held in memory, and in flight, now.
    public var held = 0
    public var inFlight = 0
    public var role = Forwarder.Role.stopped

    mutating func count(_ outcome: DeliveryOutcome, result: TransportResult, committedAt: Date, answeredAt: Date) {
        let name =
            switch outcome {
            case .delivered: "delivered"
            case .refusedByEMP: "refused_by_emp"
            case .retryable: "retryable"
            case .deadLetter: "dead_letter"
            }
        attempts[name, default: 0] += 1
        if case .response(_, _, _, let elapsed) = result { requestSeconds.observe(elapsed.seconds) }
        if case .delivered = outcome { deliverySeconds.observe(max(0, answeredAt.timeIntervalSince(committedAt))) }
    }
}
