import Foundation

extension JSONValue {
    /// Compact RFC 8259 text: no insignificant whitespace, numbers verbatim, members in order.
    ///
    /// Strings escape `"` and `\` and every control character below U+0020 (RFC 8259 §7);
    /// everything else is written as UTF-8. `JSONParser.parse(serialized())` gives back an equal value.
    /// `.number` payloads are written as they are, so they must hold RFC 8259 number text (the
    /// parser only produces such text).
    public func serialized() -> String {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        Self.write(self, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// `JSONValue.object(JSONObject(members)).serialized()` for members whose keys differ, without
    /// building the object (its keyed insert checks every earlier key: 3% of an import's CPU).
    public static func serializedObject(_ members: [(key: String, value: JSONValue)]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        output.append(UInt8(ascii: "{"))
        for (position, member) in members.enumerated() {
            if position > 0 { output.append(UInt8(ascii: ",")) }
            writeString(member.key, to: &output)
            output.append(UInt8(ascii: ":"))
            write(member.value, to: &output)
        }
        output.append(UInt8(ascii: "}"))
        return String(decoding: output, as: UTF8.self)
    }

    /// `serialized()`'s bytes, appended to `output`.
    public func write(to output: inout [UInt8]) { Self.write(self, to: &output) }

    private static func write(_ value: JSONValue, to output: inout [UInt8]) {
        switch value {
        case .null:
            output.append(contentsOf: "null".utf8)
        case .bool(let flag):
            output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let text):
            output.append(contentsOf: text.utf8)
        case .string(let text):
            writeString(text, to: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                write(element, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let object):
            output.append(UInt8(ascii: "{"))
            for position in object.indices {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                writeString(object.keys[position], to: &output)
                output.append(UInt8(ascii: ":"))
                write(object.values[position], to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Appends `text` as a JSON string literal, escaped as `serialized()` escapes it.
    ///
    /// The runs between characters that need escaping are copied whole: appended byte by byte,
    /// strings were 18% of the server's CPU answering EVSE timelines (a uniqueness and capacity
    /// check per byte).
    public static func writeString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var run = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if run < index { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index])) }
                appendEscaped(byte, to: &output)
                run = index + 1
            }
            if run < bytes.count { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...])) }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// `"`, `\` or a control character, escaped.
    private static func appendEscaped(_ byte: UInt8, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
        case 0x0A: output.append(UInt8(ascii: "n"))
        case 0x0D: output.append(UInt8(ascii: "r"))
        case 0x09: output.append(UInt8(ascii: "t"))
        case 0x08: output.append(UInt8(ascii: "b"))
        case 0x0C: output.append(UInt8(ascii: "f"))
        default:
            output.append(contentsOf: "u00".utf8)
            output.append(hexDigits[Int(byte >> 4)])
            output.append(hexDigits[Int(byte & 0x0F)])
        }
    }
}
