public import EventStore
public import Foundation
public import JSON
import Ledger
public import OICP
public import Postgres

/// A delivery: one notification's way to Hubject, as `forwarding.deliveries` has it.
public struct DeliveryView: Sendable, Hashable {
    /// The forwarded notification's event id: the delivery's id in the API.
    public var id: UUID
    /// The notification's position in the store.
    public var position: Int64
    public var sessionID: String
    public var evseID: String?
    public var operatorID: String?
    public var notificationType: String
    /// `pending`, `retrying`, `delivered`, `refused`, `dead`, `superseded`.
    public var state: String
    public var attempts: Int
    public var firstAttemptAt: Date?
    /// For `pending` and `retrying`: not before this instant.
    public var nextAttemptAt: Date?
    /// Hubject's StatusCode of the last answer that had one.
    public var statusCode: String?
    /// Why the last attempt did not deliver (or why it was superseded).
    public var reason: String?
    /// When the forwarder took the notification in.
    public var createdAt: Date
    public var finishedAt: Date?

    public static let states = ["pending", "retrying", "delivered", "refused", "dead", "superseded"]

    public var json: JSONValue {
        func time(_ date: Date?) -> JSONValue { date.map { .string(rfc3339($0)) } ?? .null }
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        let open = state == "pending" || state == "retrying"
        return .object(
            JSONObject([
                ("id", .string(id.uuidString.lowercased())), ("position", .number(String(position))), ("session_id", .string(sessionID)),
                ("evse_id", text(evseID)), ("operator_id", text(operatorID)), ("notification_type", .string(notificationType)),
                ("state", .string(state)), ("attempts", .number(String(attempts))), ("first_attempt_at", time(firstAttemptAt)),
                ("next_attempt_at", time(open ? nextAttemptAt : nil)), ("status_code", text(statusCode)), ("reason", text(reason)),
                ("created_at", time(createdAt)), ("finished_at", time(finishedAt)),
            ])
        )
    }
}

/// The forwarding backlog at a glance (`/v1/deliveries/summary`).
public struct DeliverySummary: Sendable {
    /// Deliveries by state, all time.
    public var states: [String: Int]
    /// Open deliveries: pending and retrying.
    public var backlog: Int { (states["pending"] ?? 0) + (states["retrying"] ?? 0) }
    /// Age of the oldest open delivery, from when it was taken in.
    public var oldestPendingAge: Double?
    /// Delivered in the last 5 minutes, per second.
    public var deliveryRate: Double
    public var deliveredLastHour: Int
    /// Open retries and dead letters of the last 24 hours, by reason: the OICP code, or the
    /// kind of failure (`timeout`, `connection`, `HTTP 502, not an eRoamingAcknowledgement`, …).
    public var failures: [(reason: String, state: String, count: Int)]
    /// Stored events after the forwarder's intake checkpoint (in the gap-safe order): not taken
    /// in yet, whether or not they are of a forwarded type.
    public var notTakenIn: Int64

    public var json: JSONValue {
        .object(
            JSONObject([
                ("backlog", .number(String(backlog))),
                ("oldest_pending_age_s", oldestPendingAge.map { .number(String(format: "%.3f", $0)) } ?? .null),
                ("delivery_rate_per_s", .number(String(format: "%.3f", deliveryRate))),
                ("delivered_last_hour", .number(String(deliveredLastHour))),
                ("not_taken_in", .number(String(notTakenIn))),
                ("states", .object(JSONObject(DeliveryView.states.map { ($0, .number(String(states[$0] ?? 0))) }))),
                (
                    "failures",
                    .array(
                        failures.map {
                            .object(JSONObject([("reason", .string($0.reason)), ("state", .string($0.state)), ("count", .number(String($0.count)))]))
                        }
                    )
                ),
            ])
        )
    }
}

/// What an operator's retry request came to.
public enum RetryRequest: Sendable {
    /// Recorded (`DeliveryRetryRequested`); the forwarder opens the dead letter again when it
    /// takes the event in.
    case requested(DeliveryView)
    case notFound
    /// Only a dead letter can be sent again.
    case notDead(DeliveryView)
}

/// Reading deliveries and asking for a dead letter to go again: what the API's `/v1/deliveries`
/// and the CLI's `deliveries` share.
public struct DeliveryQueries: Sendable {
    public static let maxLimit = 1000
    public static let defaultLimit = 100

    private let store: EventStore

    public init(store: EventStore) {
        self.store = store
    }

    /// The SELECT list `view(_:)` decodes; `d` is the delivery.
    private static let columns = """
        d.event_id, d.position, d.session_id, d.evse_id, d.operator_id, d.notification_type, d.state, d.attempts,
        d.first_attempt_at, d.next_attempt_at, d.status_code, d.reason, d.created_at, d.finished_at
        """

    private static func view(_ row: PostgresResult.Row) throws -> DeliveryView {
        DeliveryView(
            id: try row.decode(column: 0), position: try row.decode(column: 1), sessionID: try row.decode(column: 2),
            evseID: try row.decode(String?.self, column: 3), operatorID: try row.decode(String?.self, column: 4),
            notificationType: try row.decode(column: 5), state: try row.decode(column: 6), attempts: try row.decode(column: 7),
            firstAttemptAt: try row.decode(Date?.self, column: 8), nextAttemptAt: try row.decode(Date?.self, column: 9),
            statusCode: try row.decode(String?.self, column: 10), reason: try row.decode(String?.self, column: 11),
            createdAt: try row.decode(column: 12), finishedAt: try row.decode(Date?.self, column: 13)
        )
    }

    /// Deliveries newest first (by position), optionally of one state and one session, seen
    /// by a token limited to `operatorIDs` (nil: every operator). `before` is the position the
    /// previous page ended at.
    public func list(
        state: String?, sessionID: String?, operatorIDs: [String]?, before: Int64?, limit: Int
    ) async throws -> (items: [DeliveryView], next: Int64?) {
        let limit = min(max(1, limit), Self.maxLimit)
        let before = before ?? .max
        let keys = operatorIDs.map { $0.map { OperatorIdentity.normalized(operatorID: $0) } }
        let rows = try await store.pool.run { session in
            try session.query(
                """
                SELECT \(unsafeRaw: Self.columns)
                  FROM forwarding.deliveries d
                 WHERE d.position < \(before)
                   AND (\(state)::text IS NULL OR d.state = \(state))
                   AND (\(sessionID)::text IS NULL OR d.session_id = \(sessionID))
                   AND (\(keys)::text[] IS NULL
                        OR (ledger.operator_key(d.operator_id) = ANY(\(keys)) AND ledger.evse_operator_key(d.evse_id) = ANY(\(keys))))
                 ORDER BY d.position DESC
                 LIMIT \(limit + 1)
                """
            ).rows.map(Self.view)
        }
        let items = Array(rows.prefix(limit))
        return (items, rows.count > limit ? items.last?.position : nil)
    }

    /// One delivery by its notification's event id.
    public func find(_ id: UUID) async throws -> DeliveryView? {
        try await store.pool.run { session in
            try session.query(
                """
                SELECT \(unsafeRaw: Self.columns)
                  FROM forwarding.deliveries d
                 WHERE d.event_id = \(id)
                """
            ).rows.first.map(Self.view)
        }
    }

    /// Seconds since the oldest open delivery was taken in; NULL when none is open.
    private static let oldestOpenAge = """
        (SELECT extract(epoch FROM now() - created_at)::float8 FROM forwarding.deliveries
          WHERE state IN ('pending', 'retrying') ORDER BY position LIMIT 1)
        """

    /// Open deliveries, and the age of the oldest (for `/metrics`).
    /// Deliveries open, the oldest one's age, and what the intake has not taken in yet: events
    /// stored past its checkpoint (held behind an open transaction, or the intake is down), which
    /// no delivery row counts yet.
    public func backlog() async throws -> (open: Int, oldestAge: Double?, notTakenIn: Int64, oldestNotTakenInAge: Double?) {
        let (open, oldest, intake) = try await store.pool.run { session in
            let result = try session.query(
                """
                SELECT (SELECT count(*) FROM forwarding.deliveries WHERE state IN ('pending', 'retrying')), \(unsafeRaw: Self.oldestOpenAge)
                """
            )
            return (
                try result.decode(Int.self, row: 0, column: 0), try result.decode(Double?.self, row: 0, column: 1),
                try Subscription.readCheckpoint(Forwarder.intake.checkpoints[0], on: session)
            )
        }
        let pending = try await store.pendingEvents(after: intake)
        return (open, oldest, pending.count, pending.oldestAge)
    }

    public func summary() async throws -> DeliverySummary {
        let intake = try await store.pool.run { session in try Subscription.readCheckpoint(Forwarder.intake.checkpoints[0], on: session) }
        var summary = try await store.pool.run { session in
            var states: [String: Int] = [:]
            for row in try session.query("SELECT state, count(*)::bigint FROM forwarding.deliveries GROUP BY state").rows {
                states[try row.decode(String.self, column: 0)] = try row.decode(Int.self, column: 1)
            }
            let recent = try session.query(
                """
                SELECT \(unsafeRaw: Self.oldestOpenAge),
                       count(*) FILTER (WHERE state = 'delivered' AND finished_at > now() - interval '5 minutes'),
                       count(*) FILTER (WHERE state = 'delivered')
                  FROM forwarding.deliveries WHERE finished_at > now() - interval '1 hour'
                """
            )
            var failures: [(reason: String, state: String, count: Int)] = []
            for row in try session.query(
                """
                SELECT coalesce('OICP ' || status_code, split_part(reason, ':', 1)) AS why, state, count(*)::bigint
                  FROM forwarding.deliveries
                 WHERE state = 'retrying' OR (state = 'dead' AND finished_at > now() - interval '24 hours')
                 GROUP BY why, state ORDER BY count(*) DESC, why LIMIT 20
                """
            ).rows {
                failures.append((try row.decode(String?.self, column: 0) ?? "unknown", try row.decode(column: 1), try row.decode(column: 2)))
            }
            return DeliverySummary(
                states: states, oldestPendingAge: try recent.decode(Double?.self, row: 0, column: 0),
                deliveryRate: Double(try recent.decode(Int.self, row: 0, column: 1)) / 300, deliveredLastHour: try recent.decode(row: 0, column: 2),
                failures: failures, notTakenIn: 0
            )
        }
        summary.notTakenIn = try await store.pendingEvents(after: intake).count
        return summary
    }

    /// Moves the forwarder's intake to the store's current end, so notifications committed
    /// before now are never forwarded: for turning forwarding on over a ledger that already
    /// holds history (the forwarder otherwise starts at the beginning of the store). Never moves
    /// it back. Returns the intake cursor before, and after (nil when it did not move).
    public func skipToHead() async throws -> (from: ReadCursor, to: ReadCursor?) {
        let tail = try await store.tailCursor()
        return try await store.pool.run { session in
            try session.transaction {
                let (before, moved) = try Subscription.advanceCheckpoint(Forwarder.intake.checkpoints[0], to: tail, on: session)
                return (before, moved ? tail : nil)
            }
        }
    }

    /// Asks for the dead letter `id` to be sent again: appends `DeliveryRetryRequested` to its
    /// session's delivery stream, naming who asked. The retry budget starts afresh. It goes
    /// after whatever of its session is in flight then, so it may reach Hubject after
    /// notifications that came later: the operator's call.
    public func requestRetry(_ id: UUID, requestedBy: String, at now: Date = Date()) async throws -> RetryRequest {
        guard let delivery = try await find(id) else { return .notFound }
        guard delivery.state == "dead" else { return .notDead(delivery) }
        var event = DeliveryEvent(
            type: .deliveryRetryRequested, sessionID: delivery.sessionID, eventID: id.uuidString.lowercased(), position: delivery.position,
            notificationType: delivery.notificationType, at: DeliveryEvent.stamp(now)
        )
        event.requestedBy = requestedBy
        event.reason = delivery.reason ?? ""
        _ = try await store.append(to: event.stream, events: [NewEvent(type: event.type.rawValue, data: event.data)])
        return .requested(delivery)
    }
}
