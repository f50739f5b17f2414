import Foundation

/// An inconsistency in an accepted notification.
///
/// The HBS does not check timestamp order or energy arithmetic (REFERENCE §1.9, §4.2), and the
/// spec's own examples break both (§7.16), so such bodies are accepted and the inconsistency is
/// recorded instead.
///
/// Codes: `evse_id_not_upper_case`, `charging_end_before_charging_start`,
/// `consumed_energy_mismatch`, `charging_duration_mismatch`,
/// `event_occurred_before_charging_start`, `session_start_after_charging_start`,
/// `session_end_before_charging_end`, `penalty_time_start_before_charging_end`,
/// `meter_value_end_below_meter_value_start`, `negative_energy_value`,
/// `negative_charging_duration`, `meter_values_decreasing`.
public struct Anomaly: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A stable snake_case code, e.g. `"charging_end_before_charging_start"`.
    public var code: String
    /// A human-readable explanation with the values involved.
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { code + ": " + message }
}
