import Foundation

/// OICP ChargingNotification bodies for tests, written once for every test target.
public enum NotificationBody {
    public static let operatorID = "DE*A36"

    public static func start(_ session: String, evse: String, operator op: String = operatorID, at start: String = "2026-11-20T10:00:00+01:00") -> String {
        #"{"Type":"Start","SessionID":"\#(session)","EvseID":"\#(evse)","ChargingStart":"\#(start)","MeterValueStart":1000.5,"OperatorID":"\#(op)"}"#
    }

    public static func progress(_ session: String, evse: String, operator op: String = operatorID, minute: Int, energy: String = "2.75") -> String {
        #"{"Type":"Progress","SessionID":"\#(session)","EvseID":"\#(evse)","ChargingStart":"2026-11-20T10:00:00+01:00","EventOccurred":"2026-11-20T10:\#(String(format: "%02d", minute)):00+01:00","ChargingDuration":\#(minute * 60_000),"ConsumedEnergyProgress":\#(energy),"OperatorID":"\#(op)"}"#
    }

    public static func end(_ session: String, evse: String, operator op: String = operatorID) -> String {
        #"{"Type":"End","SessionID":"\#(session)","EvseID":"\#(evse)","ChargingStart":"2026-11-20T10:00:00+01:00","ChargingEnd":"2026-11-20T10:59:00+01:00","ConsumedEnergy":8.25,"OperatorID":"\#(op)"}"#
    }

    public static func error(_ session: String, evse: String, operator op: String = operatorID, type: String = "ConnectorError", info: String? = nil) -> String {
        let extra = info.map { #","ErrorAdditionalInfo":"\#($0)""# } ?? ""
        return #"{"Type":"Error","SessionID":"\#(session)","EvseID":"\#(evse)","ErrorType":"\#(type)"\#(extra),"OperatorID":"\#(op)"}"#
    }

    public static func newSession() -> String { UUID().uuidString.lowercased() }

    /// An EvseID under `op` (`DE*A36` → `DE*A36*E<n>*1`) unique to this test run.
    public static func newEvse(_ op: String) -> String { "\(op)*E\(UInt32.random(in: 1...999_999))*1" }
}
