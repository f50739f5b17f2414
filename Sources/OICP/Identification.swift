import Foundation

/// `IdentificationType`: the one authentication option a notification carries.
///
/// "One of the following five options MUST be provided" (OICP 2.3 CPO chapter 3
/// `[[IdentificationType]]`, REFERENCE §3.8); "Only one Identification Method can be used"
/// (code snippets). The validator refuses an `Identification` object with zero or several options.
public enum Identification: Sendable, Hashable {
    /// `RFIDMifareFamilyIdentification` with its `UID` (8, 14 or 20 upper-case hex digits).
    case rfidMifareFamily(uid: String)
    /// `RFIDIdentification`: `UID`, `RFID` (an `RFIDType` raw value), optional `EvcoID`,
    /// `PrintedNumber` (≤ 150) and `ExpiryDate` (kept as sent).
    case rfid(uid: String, rfid: String, evcoID: String?, printedNumber: String?, expiryDate: String?)
    /// `QRCodeIdentification`: `EvcoID`, optional `HashedPIN` and `PIN` (≤ 20).
    case qrCode(evcoID: String, hashedPIN: HashedPIN?, pin: String?)
    /// `PlugAndChargeIdentification` with its `EvcoID`.
    case plugAndCharge(evcoID: String)
    /// `RemoteIdentification` with its `EvcoID`.
    case remote(evcoID: String)
}

extension Identification {
    /// The wire name of this option, e.g. `"RemoteIdentification"`.
    public var optionName: String {
        switch self {
        case .rfidMifareFamily: "RFIDMifareFamilyIdentification"
        case .rfid: "RFIDIdentification"
        case .qrCode: "QRCodeIdentification"
        case .plugAndCharge: "PlugAndChargeIdentification"
        case .remote: "RemoteIdentification"
        }
    }

    /// The wire names of the five options, in spec order.
    public static let optionNames = [
        "RFIDMifareFamilyIdentification", "RFIDIdentification", "QRCodeIdentification",
        "PlugAndChargeIdentification", "RemoteIdentification",
    ]
}
