import Foundation

/// `HashedPINType` of a `QRCodeIdentification` (REFERENCE §3.8).
public struct HashedPIN: Sendable, Hashable {
    /// `HashFunctionType`: "Function that was used to generate the hash value."
    public enum Function: String, Sendable, Hashable, Codable, CaseIterable {
        /// "Hash value is based on Bcrypt."
        case bcrypt = "Bcrypt"
    }

    /// `LegacyHashDataType`: "Field for hashing data related to OICP v2.1. It is unused in later versions."
    public struct LegacyHashData: Sendable, Hashable {
        /// The legacy hash function (`MD5` or `SHA-1`).
        public enum Function: String, Sendable, Hashable, Codable, CaseIterable {
            case md5 = "MD5"
            case sha1 = "SHA-1"
        }

        /// `Function`, mandatory.
        public var function: Function
        /// `Salt`, 0–100 characters.
        public var salt: String?
        /// `Value`, 0–20 characters.
        public var value: String?

        public init(function: Function, salt: String? = nil, value: String? = nil) {
            self.function = function
            self.salt = salt
            self.value = value
        }
    }

    /// `Value` (HashValueType, `^[0-9A-Za-z.+/=$]{10,100}$`, REFERENCE §7.13).
    public var value: String
    /// `Function`.
    public var function: Function
    /// `LegacyHashData`, optional.
    public var legacyHashData: LegacyHashData?

    public init(value: String, function: Function, legacyHashData: LegacyHashData? = nil) {
        self.value = value
        self.function = function
        self.legacyHashData = legacyHashData
    }
}
