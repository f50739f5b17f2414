import Foundation
import JSON

extension NotificationCheck {
    /// Tolerance for `ChargingDuration` against `EventOccurred − ChargingStart`.
    static let chargingDurationTolerance: Int64 = 60_000

    /// Records the cross-field inconsistencies of an otherwise valid notification.
    ///
    /// None of these is a protocol violation: the spec states no ordering or arithmetic rule the
    /// HBS enforces (REFERENCE §4.2 "Timestamp order"), and its own End and Progress examples break
    /// them (§1.10, §7.16). The expected physical order is SessionStart ≤ ChargingStart ≤
    /// EventOccurred ≤ ChargingEnd ≤ SessionEnd, PenaltyTimeStart after ChargingEnd.
    mutating func recordAnomalies(of notification: ChargingNotification) {
        let n = notification
        if OICPPattern.hasLowerCase(n.evseID) {
            anomaly(
                "evse_id_not_upper_case",
                "EvseID \(Quote.value(n.evseID)) has lower-case letters; the OICP data-types chapter allows upper case only"
            )
        }
        if let start = n.chargingStart, let end = n.chargingEnd, end.epochMilliseconds < start.epochMilliseconds {
            anomaly("charging_end_before_charging_start", "ChargingEnd \(end) is before ChargingStart \(start)")
        }
        if let start = n.chargingStart, let event = n.eventOccurred, event.epochMilliseconds < start.epochMilliseconds {
            anomaly("event_occurred_before_charging_start", "EventOccurred \(event) is before ChargingStart \(start)")
        }
        if let session = n.sessionStart, let charging = n.chargingStart,
            session.epochMilliseconds > charging.epochMilliseconds
        {
            anomaly("session_start_after_charging_start", "SessionStart \(session) is after ChargingStart \(charging)")
        }
        if let session = n.sessionEnd, let charging = n.chargingEnd,
            session.epochMilliseconds < charging.epochMilliseconds
        {
            anomaly("session_end_before_charging_end", "SessionEnd \(session) is before ChargingEnd \(charging)")
        }
        if let penalty = n.penaltyTimeStart, let end = n.chargingEnd, penalty.epochMilliseconds < end.epochMilliseconds
        {
            anomaly(
                "penalty_time_start_before_charging_end", "PenaltyTimeStart \(penalty) is before ChargingEnd \(end)")
        }
        if let duration = n.chargingDuration {
            if duration < 0 {
                anomaly("negative_charging_duration", "ChargingDuration is \(duration) ms")
            }
            if let start = n.chargingStart, let event = n.eventOccurred {
                let (elapsed, overflow) = event.epochMilliseconds.subtractingReportingOverflow(start.epochMilliseconds)
                let (gap, gapOverflow) = duration.subtractingReportingOverflow(elapsed)
                if !overflow, gapOverflow || gap.magnitude > UInt64(Self.chargingDurationTolerance) {
                    anomaly(
                        "charging_duration_mismatch",
                        "ChargingDuration is \(duration) ms but EventOccurred − ChargingStart is \(elapsed) ms "
                            + "(tolerance \(Self.chargingDurationTolerance / 1000) s)")
                }
            }
        }
        checkNotNegative(n.meterValueStart, "MeterValueStart")
        checkNotNegative(n.meterValueEnd, "MeterValueEnd")
        checkNotNegative(n.consumedEnergy, "ConsumedEnergy")
        checkNotNegative(n.consumedEnergyProgress, "ConsumedEnergyProgress")
        if let start = n.meterValueStart, let end = n.meterValueEnd {
            if end < start {
                anomaly(
                    "meter_value_end_below_meter_value_start",
                    "MeterValueEnd \(end.text) kWh is below MeterValueStart \(start.text) kWh")
            }
            if let consumed = n.consumedEnergy {
                let (difference, overflow) = end.thousandths.subtractingReportingOverflow(start.thousandths)
                if overflow || difference != consumed.thousandths {
                    anomaly(
                        "consumed_energy_mismatch",
                        "ConsumedEnergy \(consumed.text) kWh differs from MeterValueEnd − MeterValueStart = "
                            + (overflow ? "out of range" : KilowattHours(thousandths: difference).text + " kWh"))
                }
            }
        }
        if let values = n.meterValuesInBetween {
            for (index, value) in values.enumerated() where value.thousandths < 0 {
                anomaly(
                    "negative_energy_value", "MeterValueInBetween.meterValues[\(index)] is negative (\(value.text) kWh)"
                )
            }
            // Only the first decrease is reported.
            if let index = values.indices.dropFirst().first(where: { values[$0] < values[$0 - 1] }) {
                anomaly(
                    "meter_values_decreasing",
                    "MeterValueInBetween.meterValues[\(index)] = \(values[index].text) kWh is below the previous value "
                        + "\(values[index - 1].text) kWh")
            }
        }
    }

    private mutating func checkNotNegative(_ value: KilowattHours?, _ name: String) {
        if let value, value.thousandths < 0 {
            anomaly("negative_energy_value", "\(name) is negative (\(value.text) kWh)")
        }
    }
}
