import Foundation
public import JSON

/// A notification body that passed validation.
public struct ValidatedNotification: Sendable, Hashable {
    /// The decoded notification.
    public let notification: ChargingNotification
    /// The parsed body as received, unknown properties included (OAS sets no
    /// `additionalProperties`, REFERENCE §1.7), so it can be stored and forwarded verbatim.
    public let body: JSONValue
    /// Cross-field inconsistencies that do not make the body invalid.
    public let anomalies: [Anomaly]

    public init(notification: ChargingNotification, body: JSONValue, anomalies: [Anomaly]) {
        self.notification = notification
        self.body = body
        self.anomalies = anomalies
    }
}
