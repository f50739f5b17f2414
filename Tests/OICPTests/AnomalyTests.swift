import Foundation
import JSON
import OICP
import Testing

/// One anomaly scenario: an example with some members replaced.
struct AnomalyCase: Sendable, CustomTestStringConvertible {
    let code: String
    let example: String
    let edits: [(String, JSONValue?)]

    var testDescription: String { code }
}

@Suite("Anomalies: accepted cross-field inconsistencies")
struct AnomalyTests {
    static let cases: [AnomalyCase] = [
        AnomalyCase(code: "evse_id_not_upper_case", example: "start.json", edits: [("EvseID", .s("DE*A36*Eabc1"))]),
        AnomalyCase(
            code: "charging_end_before_charging_start", example: "end.json",
            edits: [("ChargingStart", .s("2024-05-14T11:50:53+02:00")), ("PenaltyTimeStart", nil)]),
        AnomalyCase(code: "consumed_energy_mismatch", example: "end.json", edits: [("ConsumedEnergy", .n("22.254"))]),
        AnomalyCase(
            code: "charging_duration_mismatch", example: "progress.json", edits: [("ChargingDuration", .n("48000"))]),
        AnomalyCase(
            code: "event_occurred_before_charging_start", example: "progress.json",
            edits: [("EventOccurred", .s("2024-05-14T09:30:10+02:00")), ("ChargingDuration", nil)]),
        AnomalyCase(
            code: "session_start_after_charging_start", example: "start.json",
            edits: [("SessionStart", .s("2024-05-14T09:33:00+02:00"))]),
        AnomalyCase(
            code: "session_end_before_charging_end", example: "end.json",
            edits: [("SessionEnd", .s("2024-05-14T11:05:41+02:00"))]),
        AnomalyCase(
            code: "penalty_time_start_before_charging_end", example: "end.json",
            edits: [("PenaltyTimeStart", .s("2024-05-14T10:35:42+02:00"))]),
        AnomalyCase(
            code: "meter_value_end_below_meter_value_start", example: "end.json",
            edits: [
                ("MeterValueEnd", .n("12300")), ("ConsumedEnergy", .n("-45.678")),
                ("MeterValueInBetween", nil),
            ]),
        AnomalyCase(
            code: "negative_energy_value", example: "progress.json", edits: [("ConsumedEnergyProgress", .n("-0.5"))]),
        AnomalyCase(
            code: "meter_values_decreasing", example: "end.json",
            edits: [
                ("MeterValueInBetween", .o([("meterValues", .array([.n("12346.912"), .n("12346.9"), .n("12357")]))]))
            ]),
        AnomalyCase(
            code: "negative_charging_duration", example: "progress.json", edits: [("ChargingDuration", .n("-1"))]),
    ]

    @Test("each anomaly is produced on an otherwise valid body", arguments: cases)
    func anomaly(scenario: AnomalyCase) throws {
        let result = try Examples.validate(scenario.example, scenario.edits)
        #expect(result.problems == [])
        #expect(result.anomalyCodes.contains(scenario.code), "\(result.anomalyCodes)")
        // Nothing else fires that the scenario does not imply.
        let implied: Set<String> = [
            scenario.code, "negative_energy_value", "charging_duration_mismatch", "consumed_energy_mismatch",
        ]
        #expect(Set(result.anomalyCodes).isSubset(of: implied), "\(result.anomalyCodes)")
    }

    @Test("ChargingDuration within 60 s of EventOccurred − ChargingStart is not an anomaly")
    func durationTolerance() throws {
        #expect(try Examples.validate("progress.json", [("ChargingDuration", .n("960000"))]).anomalyCodes == [])
        #expect(try Examples.validate("progress.json", [("ChargingDuration", .n("840000"))]).anomalyCodes == [])
        #expect(
            try Examples.validate("progress.json", [("ChargingDuration", .n("960001"))]).anomalyCodes
                == ["charging_duration_mismatch"])
    }

    @Test("the spec's own End example (ChargingEnd before ChargingStart) is accepted with an anomaly")
    func specEndExample() {
        let body = """
            {"Type":"End","SessionID":"f98efba4-02d8-4fa0-b810-9a9d50d2c527","EvseID":"DE*XYZ*ETEST1",\
            "ChargingStart":"2020-09-23T14:50:53.038Z","ChargingEnd":"2020-09-23T14:17:53.038Z","OperatorID":"DE*ABC",\
            "PartnerProductID":"AC 1","ConsumedEnergy":10,"MeterValueStart":0,"MeterValueEnd":10}
            """
        let result = Examples.validate(body)
        #expect(result.anomalyCodes == ["charging_end_before_charging_start"])
        #expect(result.validated?.anomalies.first?.message.contains("2020-09-23T14:17:53.038Z") == true)
    }
}
