import Foundation

/// `StatusCodeType`: "a defined code, an optional functional description of the status, and
/// optional additional information" (OICP 2.3 CPO chapter 3, REFERENCE §2.1).
///
/// JSON keys `Code`, `Description`, `AdditionalInfo`. `code` is kept raw so a code a partner
/// sends that is not in `CodeType` survives decoding; a numeric `Code` (not allowed by the
/// spec) is read as its three-digit string. Explicit `null` decodes as absent; `nil` is omitted
/// when encoding. Lengths: `Description` ≤ 200, `AdditionalInfo` ≤ 1000 characters.
public struct StatusCode: Sendable, Hashable, Codable {
    /// The three-character code, e.g. `"022"`.
    public var code: String
    /// `Description`, ≤ 200 characters; "should contain only defined values".
    public var description: String?
    /// `AdditionalInfo`, ≤ 1000 characters, free text.
    public var additionalInfo: String?

    /// The known code, or `nil` for a code not in the OICP 2.3 list.
    public var codeType: CodeType? { CodeType(rawValue: code) }

    public init(code: String, description: String? = nil, additionalInfo: String? = nil) {
        self.code = code
        self.description = description
        self.additionalInfo = additionalInfo
    }

    public init(_ codeType: CodeType, description: String? = nil, additionalInfo: String? = nil) {
        self.init(code: codeType.rawValue, description: description, additionalInfo: additionalInfo)
    }

    /// `Description` limit (REFERENCE §2.1).
    public static let maxDescriptionLength = 200
    /// `AdditionalInfo` limit (REFERENCE §2.1).
    public static let maxAdditionalInfoLength = 1000

    private enum CodingKeys: String, CodingKey {
        case code = "Code"
        case description = "Description"
        case additionalInfo = "AdditionalInfo"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let number = try? container.decode(Int.self, forKey: .code), number >= 0 {
            let digits = String(number)
            code = String(repeating: "0", count: max(0, 3 - digits.count)) + digits
        } else {
            code = try container.decode(String.self, forKey: .code)
        }
        description = try container.decodeIfPresent(String.self, forKey: .description)
        additionalInfo = try container.decodeIfPresent(String.self, forKey: .additionalInfo)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encodeIfPresent(additionalInfo, forKey: .additionalInfo)
    }
}
