public import OICP

/// The event types the ledger records: past-tense facts.
public enum LedgerEventType: String, Sendable, CaseIterable, Codable {
    /// A `Start` notification was received.
    case chargingStarted = "ChargingStarted"
    /// A `Progress` notification was received.
    case chargingProgressed = "ChargingProgressed"
    /// An `End` notification was received.
    case chargingEnded = "ChargingEnded"
    /// An `Error` notification was received.
    case chargingErrorReported = "ChargingErrorReported"
    /// A notification was refused; raw bytes (capped) and reasons, in a quarantine stream.
    case notificationRejected = "NotificationRejected"
    /// Refused notifications beyond the quarantine's cap were counted, not stored.
    case rejectionsDropped = "RejectionsDropped"

    // Forwarding to Hubject, in the session's delivery stream (`delivery-<SessionID>`).

    /// Hubject answered a forwarding attempt for good: delivered (`Result: true`, `000`), or
    /// refused by the EMP (`Result: false` with an EMP code).
    case notificationForwarded = "NotificationForwarded"
    /// An attempt failed in a way worth retrying; the next attempt's time is in the event.
    case forwardingAttemptFailed = "ForwardingAttemptFailed"
    /// Not retryable, or the retry budget is spent: the notification is a dead letter.
    case notificationDeadLettered = "NotificationDeadLettered"
    /// A Progress held in Hubject's 5-minute window was replaced by a newer one and not sent.
    case notificationSuperseded = "NotificationSuperseded"
    /// An operator asked for a dead letter to be sent again.
    case deliveryRetryRequested = "DeliveryRetryRequested"

    /// An identification was erased: its keys were deleted (db/0019). In the stream `erasures-YYYY-MM` (one a month);
    /// names the subject (a keyed hash), never the value.
    case identificationErased = "IdentificationErased"

    /// The event types of a delivery stream.
    public static let delivery: Set<LedgerEventType> = [
        .notificationForwarded, .forwardingAttemptFailed, .notificationDeadLettered, .notificationSuperseded, .deliveryRetryRequested,
    ]

    /// The lifecycle event a notification type records.
    public init(recording type: NotificationType) {
        switch type {
        case .start: self = .chargingStarted
        case .progress: self = .chargingProgressed
        case .end: self = .chargingEnded
        case .error: self = .chargingErrorReported
        }
    }
}
