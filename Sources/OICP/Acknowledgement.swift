import Foundation
import JSON

/// `eRoamingAcknowledgement`, the answer to a charging notification (OICP 2.3 CPO chapter 2,
/// REFERENCE §2).
///
/// JSON keys `Result`, `StatusCode`, `SessionID`, `CPOPartnerSessionID`, `EMPPartnerSessionID`.
/// Decoding treats explicit `null` as absent (Hubject sends nulls). A body without `Result`
/// (SWG-2020 made it optional; Hubject's HTTP 500 bodies omit it, REFERENCE §1.9, §7.18)
/// decodes as `result == false`, since it cannot be a positive acknowledgement. Encoding
/// always writes `Result` and omits `nil` fields.
public struct Acknowledgement: Sendable, Hashable, Codable {
    /// `Result`: whether "the respective operation was performed successfully".
    public var result: Bool
    /// `StatusCode`.
    public var statusCode: StatusCode
    /// `SessionID`, echoed when known.
    public var sessionID: String?
    /// `CPOPartnerSessionID`, ≤ 250 characters.
    public var cpoPartnerSessionID: String?
    /// `EMPPartnerSessionID`, ≤ 250 characters.
    public var empPartnerSessionID: String?

    public init(
        result: Bool, statusCode: StatusCode, sessionID: String? = nil,
        cpoPartnerSessionID: String? = nil, empPartnerSessionID: String? = nil
    ) {
        self.result = result
        self.statusCode = statusCode
        self.sessionID = sessionID
        self.cpoPartnerSessionID = cpoPartnerSessionID
        self.empPartnerSessionID = empPartnerSessionID
    }

    private enum CodingKeys: String, CodingKey {
        case result = "Result"
        case statusCode = "StatusCode"
        case sessionID = "SessionID"
        case cpoPartnerSessionID = "CPOPartnerSessionID"
        case empPartnerSessionID = "EMPPartnerSessionID"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        result = try container.decodeIfPresent(Bool.self, forKey: .result) ?? false
        statusCode = try container.decode(StatusCode.self, forKey: .statusCode)
        sessionID = try container.decodeIfPresent(String.self, forKey: .sessionID)
        cpoPartnerSessionID = try container.decodeIfPresent(String.self, forKey: .cpoPartnerSessionID)
        empPartnerSessionID = try container.decodeIfPresent(String.self, forKey: .empPartnerSessionID)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(result, forKey: .result)
        try container.encode(statusCode, forKey: .statusCode)
        try container.encodeIfPresent(sessionID, forKey: .sessionID)
        try container.encodeIfPresent(cpoPartnerSessionID, forKey: .cpoPartnerSessionID)
        try container.encodeIfPresent(empPartnerSessionID, forKey: .empPartnerSessionID)
    }
}

extension Acknowledgement {
    /// The acknowledgement as compact JSON, keys in the spec's order (`Result`, `StatusCode`
    /// with `Code`, `Description`, `AdditionalInfo`, then the session IDs); absent fields are
    /// left out, as `encode(to:)` does.
    public func serialized() -> String {
        var status: [(key: String, value: JSONValue)] = [("Code", .string(statusCode.code))]
        if let description = statusCode.description { status.append(("Description", .string(description))) }
        if let info = statusCode.additionalInfo { status.append(("AdditionalInfo", .string(info))) }
        var fields: [(key: String, value: JSONValue)] = [("Result", .bool(result)), ("StatusCode", .object(JSONObject(status)))]
        if let sessionID { fields.append(("SessionID", .string(sessionID))) }
        if let cpoPartnerSessionID { fields.append(("CPOPartnerSessionID", .string(cpoPartnerSessionID))) }
        if let empPartnerSessionID { fields.append(("EMPPartnerSessionID", .string(empPartnerSessionID))) }
        return JSONValue.object(JSONObject(fields)).serialized()
    }
}
