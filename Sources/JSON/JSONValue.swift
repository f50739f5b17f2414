import Foundation

/// A strict RFC 8259 JSON value.
///
/// Numbers keep their literal text (`.number("12345.678")`), so nothing is rounded through
/// `Double`; objects keep their members in wire order. This is what lets the ledger store a
/// notification body "in its original form", as OICP 2.3 says the HBS does with date/time
/// values (OICP 2.3 CPO chapter 1, "Time zones"; REFERENCE §3.11, §9).
public enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, as its literal text (RFC 8259 §6 grammar, e.g. `"-0.5e3"`).
    case number(String)
    /// A string, with escapes decoded.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object with its members in wire order.
    case object(JSONObject)
}

extension JSONValue {
    /// The string payload, or `nil` when this is not a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The literal number text, or `nil` when this is not a number.
    public var numberText: String? {
        if case .number(let text) = self { return text }
        return nil
    }

    /// The Boolean payload, or `nil` when this is not a Boolean.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements, or `nil` when this is not an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The members, or `nil` when this is not an object.
    public var objectValue: JSONObject? {
        if case .object(let object) = self { return object }
        return nil
    }

    /// Whether this is `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The member named `key` when this is an object, otherwise `nil`.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// The JSON type name used in validation messages ("string", "number", …).
    package var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
