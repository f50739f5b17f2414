public import Foundation
import JSON
import Ledger
import OICP
import Postgres

/// A value in a read-model row, as the CLI and the API render it.
public enum FieldValue: Sendable, Hashable {
    case null
    case string(String)
    case integer(Int64)
    case bool(Bool)
    case date(Date)
    /// JSON text, embedded as is in JSON output.
    case json(String)

    /// The value as one line of text (tables, CSV).
    public var text: String {
        switch self {
        case .null: ""
        case .string(let value): value
        case .integer(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        case .date(let value): rfc3339(value)
        case .json(let value): value
        }
    }

    /// Appends the value as JSON.
    public func writeJSON(to output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .string(let value): JSONValue.writeString(value, to: &output)
        case .integer(let value): output.append(contentsOf: String(value).utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .date(let value): JSONValue.writeString(rfc3339(value), to: &output)
        case .json(let value): output.append(contentsOf: value.utf8)
        }
    }

    /// The value as JSON.
    public var json: String {
        switch self {
        case .null: "null"
        case .string(let value): JSONValue.string(value).serialized()
        case .integer(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        case .date(let value): JSONValue.string(rfc3339(value)).serialized()
        case .json(let value): value
        }
    }
}

extension Optional where Wrapped == String {
    var field: FieldValue { map(FieldValue.string) ?? .null }
}

extension Optional where Wrapped == Date {
    var field: FieldValue { map(FieldValue.date) ?? .null }
}

/// A row of a read model, as named fields in a fixed order.
public protocol ReadModelRecord: Sendable {
    var fields: [(name: String, value: FieldValue)] { get }
    /// Appends the record as a JSON object, fields in order: by default from `fields`; a record
    /// that pages are made of may write itself without building them.
    func writeJSON(to output: inout [UInt8])
}

extension ReadModelRecord {
    /// The record as a JSON object, fields in order.
    public var json: String {
        var output: [UInt8] = []
        writeJSON(to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends the record as a JSON object, fields in order (pages of them are written into one
    /// buffer).
    public func writeJSON(to output: inout [UInt8]) { writeFieldsJSON(to: &output) }

    /// `writeJSON` from `fields`, the form a record's own writer must match.
    public func writeFieldsJSON(to output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        for (index, field) in fields.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONValue.writeString(field.name, to: &output)
            output.append(UInt8(ascii: ":"))
            field.value.writeJSON(to: &output)
        }
        output.append(UInt8(ascii: "}"))
    }

    /// The record as an RFC 4180 line (CRLF-terminated) of the fields `columns` names, in that
    /// order; a missing field is empty.
    public func csvLine(_ columns: [String]) -> String {
        let values = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        return CSV.line(columns.map { values[$0]?.text ?? "" })
    }
}

/// A record of a list, whose field names are known without a row (CSV headers of exports).
public protocol ListRecord: ReadModelRecord {
    /// The names `fields` has, in its order.
    static var fieldNames: [String] { get }
}

/// RFC 4180 text.
public enum CSV {
    /// One line of fields, each quoted where it has to be, ending in CRLF.
    public static func line(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\r\n"
    }

    /// A field, quoted (with quotes doubled) when it holds a comma, quote, CR or LF.
    public static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
