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
