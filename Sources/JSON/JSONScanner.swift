import Foundation

/// The parsing state machine behind `JSONParser`: one pass over the bytes, an explicit stack of
/// open containers, UTF-8 validated only where non-ASCII bytes occur (RFC 8259 §8.1).
package struct JSONScanner {
    /// One open array or object.
    package struct Frame {
        var isObject: Bool
        var keys: [String] = []
        var values: [JSONValue] = []
        /// Built once an object has many members, so duplicate detection stays linear.
        var keyIndex: Set<ExactKey>? = nil
    }

    /// Objects with more members than this use a hash set for duplicate detection.
    package static let linearDuplicateScanLimit = 16

    package let bytes: UnsafeBufferPointer<UInt8>
    package let count: Int
    package let maxDepth: Int
    package var index = 0
    package var stack: [Frame] = []

    package init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.count = bytes.count
        self.maxDepth = maxDepth
    }

    package mutating func parseDocument() -> Result<JSONValue, JSONParseError> {
        do throws(JSONParseError) {
            return .success(try parseValue())
        } catch {
            return .failure(error)
        }
    }

    // MARK: Structure

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        if count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            throw syntax("a byte order mark is not allowed (RFC 8259 §8.1)", at: 0)
        }
        skipWhitespace()
        parsing: while true {
            guard index < count else { throw endOfInput("expected a value") }
            var value: JSONValue
            switch bytes[index] {
            case UInt8(ascii: "{"):
                try push(isObject: true)
                index += 1
                skipWhitespace()
                if index < count, bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    stack.removeLast()
                    value = .object(JSONObject())
                } else {
                    try readKeyAndColon()
                    continue parsing
                }
            case UInt8(ascii: "["):
                try push(isObject: false)
                index += 1
                skipWhitespace()
                if index < count, bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    stack.removeLast()
                    value = .array([])
                } else {
                    continue parsing
                }
            case UInt8(ascii: "\""):
                value = .string(try readString())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try readNumber())
            default:
                throw try unexpected("expected a value")
            }

            // A value is complete: attach it to its container, closing containers as needed.
            while true {
                guard let top = stack.indices.last else {
                    skipWhitespace()
                    if index < count { throw try unexpected("expected end of input after the JSON value") }
                    return value
                }
                stack[top].values.append(value)
                skipWhitespace()
                guard index < count else {
                    throw endOfInput(stack[top].isObject ? "expected ',' or '}'" : "expected ',' or ']'")
                }
                let byte = bytes[index]
                if byte == UInt8(ascii: ",") {
                    index += 1
                    skipWhitespace()
                    if stack[top].isObject { try readKeyAndColon() }
                    continue parsing
                }
                if stack[top].isObject && byte == UInt8(ascii: "}") {
                    index += 1
                    let frame = stack.removeLast()
                    value = .object(JSONObject(uncheckedKeys: frame.keys, values: frame.values))
                } else if !stack[top].isObject && byte == UInt8(ascii: "]") {
                    index += 1
                    value = .array(stack.removeLast().values)
                } else {
                    throw try unexpected(stack[top].isObject ? "expected ',' or '}'" : "expected ',' or ']'")
                }
            }
        }
    }

    private mutating func push(isObject: Bool) throws(JSONParseError) {
        if stack.count >= maxDepth {
            throw JSONParseError(
                kind: .tooDeep, offset: index, pointer: pointer(depth: stack.count),
                message: "arrays and objects are nested deeper than \(maxDepth) levels")
        }
        var frame = Frame(isObject: isObject)
        // Notification bodies have ~15 members; growing 1→2→4→8→16 would reallocate 4 times.
        if isObject { frame.keys.reserveCapacity(16) }
        frame.values.reserveCapacity(isObject ? 16 : 4)
        stack.append(frame)
    }

    /// Reads `"key" :` for the object on top of the stack and checks the key is new.
    private mutating func readKeyAndColon() throws(JSONParseError) {
        guard index < count else { throw endOfInput("expected a member name") }
        guard bytes[index] == UInt8(ascii: "\"") else {
            throw try unexpected("expected a member name in double quotes")
        }
        let keyOffset = index
        let key = try readString()
        let top = stack.count - 1
        if stack[top].keyIndex != nil {
            if !stack[top].keyIndex!.insert(ExactKey(text: key)).inserted {
                throw duplicate(key, at: keyOffset)
            }
        } else {
            for existing in stack[top].keys where UTF8Bytes.equal(existing, key) {
                throw duplicate(key, at: keyOffset)
            }
            if stack[top].keys.count >= Self.linearDuplicateScanLimit {
                var set = Set<ExactKey>(minimumCapacity: 64)
                for existing in stack[top].keys { set.insert(ExactKey(text: existing)) }
                set.insert(ExactKey(text: key))
                stack[top].keyIndex = set
            }
        }
        stack[top].keys.append(key)
        skipWhitespace()
        guard index < count else { throw endOfInput("expected ':' after the member name") }
        guard bytes[index] == UInt8(ascii: ":") else {
            throw try unexpected("expected ':' after the member name")
        }
        index += 1
        skipWhitespace()
    }

    // MARK: Scalars

    @inline(__always)
    private mutating func skipWhitespace() {
        while index < count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let length = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        for offset in 0..<length {
            guard index + offset < count else { throw endOfInput("incomplete literal '\(literal)'") }
            if bytes[index + offset] != start[offset] {
                index += offset
                throw try unexpected("invalid literal; expected '\(literal)'")
            }
        }
        index += length
    }

    /// Reads a number (RFC 8259 §6) and returns its literal text.
    private mutating func readNumber() throws(JSONParseError) -> String {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < count else { throw endOfInput("expected a digit") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < count, isDigit(bytes[index]) {
                throw syntax("leading zeros are not allowed in numbers", at: index)
            }
        } else if isDigit(bytes[index]) {
            while index < count, isDigit(bytes[index]) { index += 1 }
        } else {
            throw try unexpected("expected a digit")
        }
        if index < count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < count, isDigit(bytes[index]) else {
                if index >= count { throw endOfInput("expected a digit after '.'") }
                throw try unexpected("expected a digit after '.'")
            }
            while index < count, isDigit(bytes[index]) { index += 1 }
        }
        if index < count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < count, isDigit(bytes[index]) else {
                if index >= count { throw endOfInput("expected a digit in the exponent") }
                throw try unexpected("expected a digit in the exponent")
            }
            while index < count, isDigit(bytes[index]) { index += 1 }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    @inline(__always)
    private func isDigit(_ byte: UInt8) -> Bool {
        byte &- UInt8(ascii: "0") < 10
    }

    /// Reads a string starting at its opening quote; validates UTF-8 and decodes escapes.
    private mutating func readString() throws(JSONParseError) -> String {
        let start = index + 1
        var position = start
        while position < count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                index = position + 1
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") {
                return try readEscapedString(start: start, firstEscape: position)
            }
            if byte < 0x20 {
                throw syntax(
                    "unescaped control character U+\(hex(UInt32(byte), width: 4)) in a string", at: position)
            }
            if byte >= 0x80 {
                position += try utf8SequenceLength(at: position)
            } else {
                position += 1
            }
        }
        throw endOfInput("unterminated string starting at byte \(index)")
    }

    /// The slow path of `readString` once a backslash has been seen.
    private mutating func readEscapedString(start: Int, firstEscape: Int) throws(JSONParseError) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(firstEscape - start + 16)
        output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<firstEscape]))
        var position = firstEscape
        while position < count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                index = position + 1
                return String(decoding: output, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard position + 1 < count else { break }
                let escaped = bytes[position + 1]
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                    output.append(escaped)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "u"):
                    let first = try readHex4(at: position + 2)
                    var scalarValue = first
                    var consumed = 6
                    if (0xD800...0xDBFF).contains(first) {
                        guard position + 7 < count,
                            bytes[position + 6] == UInt8(ascii: "\\"), bytes[position + 7] == UInt8(ascii: "u")
                        else {
                            throw syntax(
                                "high surrogate \\u\(hex(first, width: 4)) is not followed by a low surrogate",
                                at: position)
                        }
                        let second = try readHex4(at: position + 8)
                        guard (0xDC00...0xDFFF).contains(second) else {
                            throw syntax(
                                "high surrogate \\u\(hex(first, width: 4)) is not followed by a low surrogate",
                                at: position)
                        }
                        scalarValue = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                        consumed = 12
                    } else if (0xDC00...0xDFFF).contains(first) {
                        throw syntax("lone low surrogate \\u\(hex(first, width: 4))", at: position)
                    } else if first == 0 {
                        // No OICP field can hold it, and PostgreSQL's jsonb, where the ledger
                        // keeps every notification, refuses it.
                        throw syntax("the NUL character \\u0000 is not allowed in a string", at: position)
                    }
                    appendUTF8(scalarValue, to: &output)
                    position += consumed
                    continue
                default:
                    throw syntax("invalid escape sequence in a string", at: position)
                }
                position += 2
                continue
            default:
                if byte < 0x20 {
                    throw syntax(
                        "unescaped control character U+\(hex(UInt32(byte), width: 4)) in a string", at: position)
                }
                if byte >= 0x80 {
                    let length = try utf8SequenceLength(at: position)
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[position..<position + length]))
                    position += length
                } else {
                    output.append(byte)
                    position += 1
                }
                continue
            }
            break
        }
        throw endOfInput("unterminated string starting at byte \(start - 1)")
    }

    private func readHex4(at position: Int) throws(JSONParseError) -> UInt32 {
        guard position + 4 <= count else { throw endOfInput("incomplete \\u escape") }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[position + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw syntax("\\u must be followed by four hex digits", at: position + offset)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private func appendUTF8(_ scalar: UInt32, to output: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            output.append(UInt8(scalar))
        case 0x80..<0x800:
            output.append(UInt8(0xC0 | scalar >> 6))
            output.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            output.append(UInt8(0xE0 | scalar >> 12))
            output.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            output.append(UInt8(0x80 | scalar & 0x3F))
        default:
            output.append(UInt8(0xF0 | scalar >> 18))
            output.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            output.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            output.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// The length of the well-formed UTF-8 sequence starting at `position` (Unicode 15, table 3-7).
    private func utf8SequenceLength(at position: Int) throws(JSONParseError) -> Int {
        let lead = bytes[position]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            secondRange = 0x80...0x9F
        case 0xF0:
            length = 4
            secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            secondRange = 0x80...0x8F
        default: throw invalidUTF8(at: position)
        }
        for offset in 1..<length {
            guard position + offset < count else { throw invalidUTF8(at: position + offset) }
            let byte = bytes[position + offset]
            let range = offset == 1 ? secondRange : 0x80...0xBF
            guard range.contains(byte) else { throw invalidUTF8(at: position + offset) }
        }
        return length
    }

    // MARK: Errors

    /// The pointer of the value nested `depth` containers deep at the current position.
    private func pointer(depth: Int) -> String {
        var pointer = ""
        for frame in stack.prefix(depth) {
            if frame.isObject, let key = frame.keys.last {
                pointer = JSONPointer.appending(pointer, key)
            } else {
                pointer = JSONPointer.appending(pointer, frame.values.count)
            }
        }
        return pointer
    }

    private func duplicate(_ key: String, at offset: Int) -> JSONParseError {
        JSONParseError(
            kind: .duplicateKey, offset: offset,
            pointer: JSONPointer.appending(pointer(depth: stack.count - 1), key),
            message: "duplicate member name \(Quote.value(key)); a repeated key makes the body ambiguous")
    }

    private func syntax(_ message: String, at offset: Int) -> JSONParseError {
        JSONParseError(kind: .syntax, offset: offset, message: message)
    }

    private func endOfInput(_ message: String) -> JSONParseError {
        JSONParseError(kind: .syntax, offset: count, message: "unexpected end of input: \(message)")
    }

    private func invalidUTF8(at offset: Int) -> JSONParseError {
        guard offset < count else {
            return JSONParseError(
                kind: .invalidUTF8, offset: offset, message: "truncated UTF-8 sequence at the end of input")
        }
        return JSONParseError(
            kind: .invalidUTF8, offset: offset,
            message: "invalid UTF-8 byte 0x\(hex(UInt32(bytes[offset]), width: 2))")
    }

    /// An error for the byte at `index`, which is not what `expectation` wanted.
    private func unexpected(_ expectation: String) throws(JSONParseError) -> JSONParseError {
        let byte = bytes[index]
        if byte >= 0x80 {
            let length = try utf8SequenceLength(at: index)  // throws for invalid UTF-8
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[index..<index + length]), as: UTF8.self)
            let scalar = text.unicodeScalars.first!.value
            return syntax("unexpected character U+\(hex(scalar, width: 4)); \(expectation)", at: index)
        }
        if byte < 0x20 || byte == 0x7F {
            return syntax("unexpected byte 0x\(hex(UInt32(byte), width: 2)); \(expectation)", at: index)
        }
        return syntax("unexpected character '\(Character(Unicode.Scalar(byte)))'; \(expectation)", at: index)
    }

    private func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
