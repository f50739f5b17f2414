public import Foundation
public import JSON
public import OICP

/// A lifecycle event's `data` read back: the layout `NotificationDecision.decide` writes, read
/// here and nowhere else (the timeline fold, the forwarder, the live feed).
public struct RecordedNotification: Sendable {
    /// `data` keys the event store's queries name (the session's owner, error filters).
    public enum Key {
        public static let sessionID = "session_id"
        public static let evseID = "evse_id"
        public static let operatorID = "operator_id"
        public static let errorType = "error_type"
        /// The notification's bytes as received: half of an event, read only to forward it.
        public static let body = "body"
        /// In place of `body` when the notification had an identification (db/0019): `key`, the
        /// identification's key, and `box`, the bytes as received sealed under it.
        public static let sealedBody = "body_sealed"
        /// When the notification had an identification: `key` (its key) and `option` (which of the
        /// five it was); the value itself is only in `body_sealed`.
        public static let identification = "identification"
    }

    /// The body member the identification is in, left out of `notification` when sealed.
    public static let identificationMember = "Identification"

    public let type: LedgerEventType
    public let sessionID: String
    public let evseID: String
    public let operatorID: String
    /// `Start`, `Progress`, `End` or `Error`.
    public let notificationType: String
    /// `ErrorType` of an Error notification.
    public let errorType: String?
    /// When the ledger received it, as written (RFC 3339, UTC).
    public let receivedAt: Timestamp
    /// Field and lifecycle anomalies, as recorded.
    public let anomalies: [JSONValue]
    /// The notification as a JSON value. (The bytes as received, which the forwarder sends, are
    /// `forwardable(ofData:)`'s: most readers leave them out of the read.)
    public let notification: JSONObject

    /// The lifecycle event types.
    public static let types: Set<LedgerEventType> = [.chargingStarted, .chargingProgressed, .chargingEnded, .chargingErrorReported]

    /// Nil when `type` is not a lifecycle type or `data` lacks a field every lifecycle event has.
    public init?(type: String, streamID: String, data: String) {
        guard let type = LedgerEventType(rawValue: type), Self.types.contains(type),
            case .object(let object)? = try? JSONParser.parse(data.utf8, maxDepth: Self.maxDepth, maxBytes: .max),
            let sessionID = object[Key.sessionID]?.stringValue ?? StreamName.sessionID(of: streamID),
            let evseID = object[Key.evseID]?.stringValue,
            let operatorID = object[Key.operatorID]?.stringValue,
            let receivedAt = object["received_at"]?.stringValue.flatMap(Timestamp.init),
            let notification = object["notification"]?.objectValue
        else { return nil }
        self.type = type
        self.sessionID = sessionID
        self.evseID = evseID
        self.operatorID = operatorID
        self.notificationType = object["notification_type"]?.stringValue ?? notification["Type"]?.stringValue ?? ""
        self.errorType = object[Key.errorType]?.stringValue
        self.receivedAt = receivedAt
        self.anomalies = object["anomalies"]?.arrayValue ?? []
        self.notification = notification
    }

    /// What the forwarder sends for a lifecycle event's `data`: the bytes as received, or, when
    /// they are sealed (db/0019), the key and the box to open with it, and the notification
    /// without its identification, to send when the key is gone (the identification was erased).
    public enum Forwardable: Sendable, Equatable {
        case plain(String)
        case sealed(keyID: UUID, box: String, withoutIdentification: String)
    }

    /// Nil when `data` has neither a body nor a notification.
    public static func forwardable(ofData data: String) -> Forwardable? {
        guard case .object(let object)? = try? JSONParser.parse(data.utf8, maxDepth: maxDepth, maxBytes: .max) else { return nil }
        if let sealed = object[Key.sealedBody]?.objectValue, let key = sealed["key"]?.stringValue.flatMap(UUID.init(uuidString:)),
            let box = sealed["box"]?.stringValue, let notification = object["notification"]?.objectValue
        {
            return .sealed(keyID: key, box: box, withoutIdentification: JSONValue.object(notification).serialized())
        }
        // Stored before db/0019, or without an identification: the bytes as received, else the
        // notification's JSON.
        return (object[Key.body]?.stringValue ?? object["notification"]?.objectValue.map { JSONValue.object($0).serialized() }).map(Forwardable.plain)
    }

    /// The EVSE and operator a lifecycle event's `data` names, each nil when absent.
    public static func parties(ofData data: String) -> (evseID: String?, operatorID: String?) {
        guard case .object(let object)? = try? JSONParser.parse(data.utf8, maxDepth: maxDepth, maxBytes: .max) else { return (nil, nil) }
        return (object[Key.evseID]?.stringValue, object[Key.operatorID]?.stringValue)
    }

    /// Deep enough for any notification the validator accepts.
    static let maxDepth = 32
}
