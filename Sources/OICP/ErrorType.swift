import Foundation

/// `ErrorClassType`, the value of an Error notification's `ErrorType` field.
///
/// The wire values have no space (OAS enum, ADOC-EMP after SE-6561); the spaced spelling in the
/// CPO data-types chapter is a known typo and is rejected with a hint (REFERENCE §1.8, §7.1).
public enum ErrorType: String, Sendable, Hashable, Codable, CaseIterable {
    /// "Charging process cannot be started or stopped. EV driver needs to check if the the Plug is
    /// properly inserted or taken out from socket."
    case connectorError = "ConnectorError"
    /// "Charging process stopped abruptly. Reason: Physical check at the station is required. …"
    case criticalError = "CriticalError"
}
