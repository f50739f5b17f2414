import Foundation

/// `ChargingNotificationType`: which of the four eRoamingChargingNotifications V1.1 a body is.
///
/// OICP 2.3 CPO chapter 3 `[[ChargingNotificationType]]`; OAS `ChargingNotificationType.yaml`
/// (REFERENCE §1.8). Validation dispatches on this value first (REFERENCE §7.2, §9).
public enum NotificationType: String, Sendable, Hashable, Codable, CaseIterable {
    /// "Indicates if the Notification refers to the start of a charging process."
    case start = "Start"
    /// "Indicates if the Notification of the progress of the charging session."
    case progress = "Progress"
    /// "Indicates if the Notification refers to an end of a charging process."
    case end = "End"
    /// "Indicates if the Notification refers to an error."
    case error = "Error"
}
