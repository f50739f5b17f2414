import Foundation

/// `RFIDType`, the card technology of an `RFIDIdentification` (REFERENCE §3.8).
public enum RFIDType: String, Sendable, Hashable, Codable, CaseIterable {
    case mifareCls
    case mifareDes
    case calypso
    case nfc
    case mifareFamily
}
