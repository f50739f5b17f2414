public import Foundation
import JSON
public import OICP

/// An event of a session's delivery stream (`delivery-<SessionID>`): what became of forwarding
/// one notification to Hubject, or an operator's request to send a dead letter again.
///
/// The one place its `data` layout is decided: the forwarder writes these, the forwarder's
/// intake reads retry requests back, and the session timeline shows them.
///
/// | type | fields besides the common ones |
/// | --- | --- |
/// | `NotificationForwarded` | `attempt`, `outcome` (`delivered` / `refused_by_emp`), `result`, `status_code`, `status_description`, `latency_ms` |
/// | `ForwardingAttemptFailed` | `attempt`, `reason`, `next_attempt_at`, `latency_ms` |
/// | `NotificationDeadLettered` | `attempt`, `reason` |
/// | `NotificationSuperseded` | `reason` |
/// | `DeliveryRetryRequested` | `requested_by`, `reason` (why it was dead) |
///
/// Common to all: `session_id`, `event_id` and `position` of the forwarded notification,
/// `notification_type`, and `at` (when the outcome was recorded or the retry asked for).
public struct DeliveryEvent: Sendable, Equatable {
    /// One of `LedgerEventType.delivery`.
    public var type: LedgerEventType
    public var sessionID: String
    /// The forwarded notification's event id (as written: lower-case UUID text) and position in
    /// the store.
    public var eventID: String
    public var position: Int64
    /// `Start`, `Progress`, `End` or `Error`.
    public var notificationType: String
    /// As written (RFC 3339, UTC); `stamp(_:)` makes one from an instant.
    public var at: Timestamp
    /// The attempt's number within its round (the first after an operator's retry is 1 again).
    public var attempt: Int?
    /// `delivered` or `refused_by_emp`.
    public var outcome: String?
    /// Hubject's acknowledgement: `Result`, `StatusCode.Code`, `StatusCode.Description`.
    public var result: Bool?
    public var statusCode: String?
    public var statusDescription: String?
    public var reason: String?
    public var nextAttemptAt: Timestamp?
    /// Hubject's answer time.
    public var latencyMilliseconds: Int64?
    /// Who asked for a dead letter to be sent again.
    public var requestedBy: String?
    /// The notification went without its `Identification`: it was erased first (db/0019).
    public var withoutIdentification: Bool?

    public init(type: LedgerEventType, sessionID: String, eventID: String, position: Int64, notificationType: String, at: Timestamp) {
        precondition(LedgerEventType.delivery.contains(type), "\(type) is not a delivery event")
        self.type = type
        self.sessionID = sessionID
        self.eventID = eventID
        self.position = position
        self.notificationType = notificationType
        self.at = at
    }

    /// An instant as delivery events write it.
    public static func stamp(_ date: Date) -> Timestamp {
        // rfc3339 writes what Timestamp reads.
        Timestamp(rfc3339(date))!
    }

    /// The stream it belongs in.
    public var stream: String { StreamName.delivery(sessionID) }

    /// The event's `data`, JSON text, members in a fixed order.
    public var data: String {
        var fields: [(key: String, value: JSONValue)] = [
            ("session_id", .string(sessionID)), ("event_id", .string(eventID)),
            ("position", .number(String(position))), ("notification_type", .string(notificationType)),
        ]
        if let attempt { fields.append(("attempt", .number(String(attempt)))) }
        fields.append(("at", .string(at.text)))
        if let outcome { fields.append(("outcome", .string(outcome))) }
        if let result { fields.append(("result", .bool(result))) }
        if let statusCode { fields.append(("status_code", .string(statusCode))) }
        if let statusDescription { fields.append(("status_description", .string(statusDescription))) }
        if let reason { fields.append(("reason", .string(reason))) }
        if let nextAttemptAt { fields.append(("next_attempt_at", .string(nextAttemptAt.text))) }
        if let latencyMilliseconds { fields.append(("latency_ms", .number(String(latencyMilliseconds)))) }
        if let requestedBy { fields.append(("requested_by", .string(requestedBy))) }
        if let withoutIdentification { fields.append(("without_identification", .bool(withoutIdentification))) }
        return JSONValue.object(JSONObject(fields)).serialized()
    }

    /// Reads a stored delivery event back; nil when `type` is not a delivery type or `data` lacks
    /// a common field.
    public init?(type: String, data: String) {
        guard let type = LedgerEventType(rawValue: type), LedgerEventType.delivery.contains(type),
            case .object(let object)? = try? JSONParser.parse(data.utf8, maxDepth: 8, maxBytes: .max)
        else { return nil }
        self.init(type: type, object: object)
    }

    init?(type: LedgerEventType, object: JSONObject) {
        func text(_ key: String) -> String? { object[key]?.stringValue }
        func time(_ key: String) -> Timestamp? { text(key).flatMap(Timestamp.init) }
        guard let sessionID = text("session_id"), let eventID = text("event_id"),
            let position = object["position"]?.numberText.flatMap({ Int64($0) }), let notificationType = text("notification_type"),
            let at = time("at")
        else { return nil }
        self.init(type: type, sessionID: sessionID, eventID: eventID, position: position, notificationType: notificationType, at: at)
        attempt = object["attempt"]?.numberText.flatMap { Int($0) }
        outcome = text("outcome")
        result = object["result"]?.boolValue
        statusCode = text("status_code")
        statusDescription = text("status_description")
        reason = text("reason")
        nextAttemptAt = time("next_attempt_at")
        latencyMilliseconds = object["latency_ms"]?.numberText.flatMap { Int64($0) }
        requestedBy = text("requested_by")
        withoutIdentification = object["without_identification"]?.boolValue
    }
}
