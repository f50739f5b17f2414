import Foundation
import JSON

/// Hand-written matchers for the OICP 2.3 identifier patterns (REFERENCE §3).
///
/// Each pattern here is anchored and deterministic, so a matcher is one left-to-right pass over
/// the UTF-8 bytes (no regex engine: `NSRegularExpression` is slow on Linux and cannot say *why*
/// a value fails). Each function returns `nil` when the value matches, otherwise the reason.
/// Where the spec writes `|` inside a character class (`[\*|\-]`, `[\d|X]`) the intent is
/// alternation, so `|` is never accepted (REFERENCE §3.6, §7.14).
enum OICPPattern {
    static let sessionID = "^[A-Za-z0-9]{8}(-[A-Za-z0-9]{4}){3}-[A-Za-z0-9]{12}$"
    static let operatorID = #"^(([A-Za-z]{2}\*?[A-Za-z0-9]{3})|(\+?[0-9]{1,3}\*[0-9]{3}))$"#
    static let evseID =
        #"^(([A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?E[A-Za-z0-9\*]{1,30})|(\+?[0-9]{1,3}\*[0-9]{3}\*[0-9\*]{1,32}))$"#
    static let evcoID =
        "^(([A-Za-z]{2}-?[A-Za-z0-9]{3}-?C[A-Za-z0-9]{8}-?[0-9A-Za-z])|([A-Za-z]{2}[*-]?[A-Za-z0-9]{3}[*-]?[A-Za-z0-9]{6}[*-]?[0-9X]))$"
    static let uid = "^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$"
    static let hashValue = "^[0-9A-Za-z.+/=$]{10,100}$"

    // MARK: Byte classes

    @inline(__always) static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }
    @inline(__always) static func isUpper(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "A") < 26 }
    @inline(__always) static func isLower(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "a") < 26 }
    @inline(__always) static func isLetter(_ byte: UInt8) -> Bool { isUpper(byte) || isLower(byte) }
    @inline(__always) static func isAlphanumeric(_ byte: UInt8) -> Bool { isLetter(byte) || isDigit(byte) }

    /// Runs `body` over the UTF-8 bytes of `text`.
    @inline(__always)
    static func bytes<R>(of text: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var copy = text
        return copy.withUTF8(body)
    }

    /// A byte shown in a message.
    static func show(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F { return "'" + String(UnicodeScalar(byte)) + "'" }
        return "a non-ASCII or control character"
    }

    // MARK: SessionID (REFERENCE §3.1)

    static func sessionIDProblem(_ text: String) -> String? {
        bytes(of: text) { bytes in
            let expected = [8, 4, 4, 4, 12]
            var groups: [Int] = [0]
            for byte in bytes {
                if byte == UInt8(ascii: "-") {
                    groups.append(0)
                    if groups.count > 5 { break }
                } else if isAlphanumeric(byte) {
                    groups[groups.count - 1] += 1
                } else {
                    return "it contains \(show(byte)); only letters, digits and '-' are allowed"
                }
            }
            if groups == expected { return nil }
            if groups.count != 5 {
                return "expected 5 groups of 8-4-4-4-12 letters or digits separated by '-'"
            }
            for (number, (length, wanted)) in zip(groups, expected).enumerated() where length != wanted {
                return "group \(number + 1) has \(length) characters; expected \(wanted)"
            }
            return nil
        }
    }

    // MARK: OperatorID (REFERENCE §3.3)

    static func operatorIDProblem(_ text: String) -> String? {
        let matches = bytes(of: text) { bytes -> Bool in
            let count = bytes.count
            // ISO: [A-Za-z]{2}\*?[A-Za-z0-9]{3}
            if count >= 5, isLetter(bytes[0]), isLetter(bytes[1]) {
                var position = 2
                if bytes[position] == UInt8(ascii: "*") { position += 1 }
                if count - position == 3, bytes[position...].allSatisfy(isAlphanumeric) { return true }
            }
            // DIN: \+?[0-9]{1,3}\*[0-9]{3}
            var position = 0
            if position < count, bytes[position] == UInt8(ascii: "+") { position += 1 }
            let digitsStart = position
            while position < count, isDigit(bytes[position]) { position += 1 }
            let countryDigits = position - digitsStart
            guard (1...3).contains(countryDigits), position < count, bytes[position] == UInt8(ascii: "*") else {
                return false
            }
            position += 1
            return count - position == 3 && bytes[position...].allSatisfy(isDigit)
        }
        return matches
            ? nil
            : "expected the ISO form (2-letter country code, optional '*', 3 letters or digits, e.g. \"DE*A36\") "
                + "or the DIN form (E.164 country code, '*', 3 digits, e.g. \"+49*536\")"
    }

    // MARK: EvseID (REFERENCE §3.5, §7.4)

    /// Matches the OAS mixed-case EvseID pattern; see `NotificationValidator` for the upper-case anomaly.
    static func evseIDProblem(_ text: String) -> String? {
        bytes(of: text) { bytes in
            let count = bytes.count
            guard count > 0 else { return "it is empty" }
            if count >= 2, isLetter(bytes[0]), isLetter(bytes[1]) {
                // ISO: [A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?E[A-Za-z0-9\*]{1,30}
                var position = 2
                if position < count, bytes[position] == UInt8(ascii: "*") { position += 1 }
                guard position + 3 <= count, bytes[position..<position + 3].allSatisfy(isAlphanumeric) else {
                    return "ISO form: expected 3 letters or digits (the operator part) after the country code"
                }
                position += 3
                if position < count, bytes[position] == UInt8(ascii: "*") { position += 1 }
                let prefix = String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<position]), as: UTF8.self)
                guard position < count, bytes[position] == UInt8(ascii: "E") else {
                    if position < count, bytes[position] == UInt8(ascii: "e") {
                        return "ISO form: the ID-type marker after \"\(prefix)\" must be an upper-case \"E\""
                    }
                    return "ISO form: expected \"E\" (the ID-type marker) after the operator part \"\(prefix)\""
                }
                position += 1
                let rest = count - position
                guard (1...30).contains(rest),
                    bytes[position...].allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "*") })
                else {
                    return "ISO form: after \"E\" expected 1–30 letters, digits or '*'"
                }
                return nil
            }
            // DIN: \+?[0-9]{1,3}\*[0-9]{3}\*[0-9\*]{1,32}
            var position = 0
            if bytes[0] == UInt8(ascii: "+") { position += 1 }
            let digitsStart = position
            while position < count, isDigit(bytes[position]) { position += 1 }
            guard position > digitsStart else {
                return "expected the ISO form (e.g. \"DE*AB7*E840*6487\") or the DIN form (e.g. \"+49*810*000*438\")"
            }
            guard position - digitsStart <= 3, position < count, bytes[position] == UInt8(ascii: "*") else {
                return "DIN form: expected a 1–3 digit country code followed by '*'"
            }
            position += 1
            guard position + 4 <= count, bytes[position..<position + 3].allSatisfy(isDigit),
                bytes[position + 3] == UInt8(ascii: "*")
            else {
                return "DIN form: expected 3 digits and '*' after the country code"
            }
            position += 4
            let rest = count - position
            guard (1...32).contains(rest), bytes[position...].allSatisfy({ isDigit($0) || $0 == UInt8(ascii: "*") })
            else {
                return "DIN form: expected 1–32 digits or '*' after the operator part"
            }
            return nil
        }
    }

    /// Whether an EvseID has lower-case letters (valid for the OAS, not for the ADOC pattern).
    static func hasLowerCase(_ text: String) -> Bool {
        bytes(of: text) { $0.contains(where: isLower) }
    }

    // MARK: EvcoID (REFERENCE §3.6, §7.14)

    static func evcoIDProblem(_ text: String) -> String? {
        let matches = bytes(of: text) { bytes in matchesISOEvcoID(bytes) || matchesDINEvcoID(bytes) }
        if matches { return nil }
        if text.utf8.contains(UInt8(ascii: "|")) {
            return "'|' is not allowed (the spec's character classes mean alternation, not a literal '|')"
        }
        return "expected the ISO form (e.g. \"DE-8EO-CAet5e4XY-3\": country, optional '-', 3 characters, "
            + "optional '-', 'C' and 8 characters, optional '-', check character) or the DIN form "
            + "(e.g. \"DE*8EO*Aet5e4*3\": separators '*' or '-', 6-character instance, check digit 0-9 or 'X')"
    }

    /// `[A-Za-z]{2}-?[A-Za-z0-9]{3}-?C[A-Za-z0-9]{8}-?[0-9A-Za-z]`
    private static func matchesISOEvcoID(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var scanner = Scanner(bytes: bytes)
        guard scanner.take(2, isLetter) else { return false }
        scanner.skip(UInt8(ascii: "-"))
        guard scanner.take(3, isAlphanumeric) else { return false }
        scanner.skip(UInt8(ascii: "-"))
        guard scanner.take(1, { $0 == UInt8(ascii: "C") }) else { return false }
        guard scanner.take(8, isAlphanumeric) else { return false }
        scanner.skip(UInt8(ascii: "-"))
        return scanner.take(1, isAlphanumeric) && scanner.atEnd
    }

    /// `[A-Za-z]{2}[*-]?[A-Za-z0-9]{3}[*-]?[A-Za-z0-9]{6}[*-]?[0-9X]`
    private static func matchesDINEvcoID(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var scanner = Scanner(bytes: bytes)
        let separator: (UInt8) -> Bool = { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "-") }
        guard scanner.take(2, isLetter) else { return false }
        scanner.skip(separator)
        guard scanner.take(3, isAlphanumeric) else { return false }
        scanner.skip(separator)
        guard scanner.take(6, isAlphanumeric) else { return false }
        scanner.skip(separator)
        return scanner.take(1, { isDigit($0) || $0 == UInt8(ascii: "X") }) && scanner.atEnd
    }

    /// A cursor over bytes for fixed-shape patterns.
    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        var atEnd: Bool { position == bytes.count }

        /// Consumes exactly `count` bytes satisfying `predicate`.
        mutating func take(_ count: Int, _ predicate: (UInt8) -> Bool) -> Bool {
            guard position + count <= bytes.count else { return false }
            for offset in 0..<count where !predicate(bytes[position + offset]) { return false }
            position += count
            return true
        }

        mutating func skip(_ byte: UInt8) {
            if position < bytes.count, bytes[position] == byte { position += 1 }
        }

        mutating func skip(_ predicate: (UInt8) -> Bool) {
            if position < bytes.count, predicate(bytes[position]) { position += 1 }
        }
    }

    // MARK: UID (REFERENCE §3.7, §7.15)

    static func uidProblem(_ text: String) -> String? {
        bytes(of: text) { bytes in
            var reasons: [String] = []
            if ![8, 14, 20].contains(bytes.count) {
                reasons.append("it has \(Length.utf16(text)) characters; expected 8, 14 or 20")
            }
            var lowerHex = false
            for byte in bytes {
                if isDigit(byte) || byte &- UInt8(ascii: "A") < 6 { continue }
                if byte &- UInt8(ascii: "a") < 6 {
                    lowerHex = true
                    continue
                }
                reasons.append("it contains \(show(byte)), which is not a hex digit")
                break
            }
            if lowerHex { reasons.append("it has lower-case hex digits; send the UID in upper case") }
            return reasons.isEmpty ? nil : reasons.joined(separator: "; ")
        }
    }

    // MARK: HashValue (REFERENCE §3.8, §7.13)

    static func hashValueProblem(_ text: String) -> String? {
        bytes(of: text) { bytes in
            guard (10...100).contains(bytes.count) else {
                return "it has \(Length.utf16(text)) characters; expected 10–100"
            }
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "$"):
                    continue
                default:
                    if !isAlphanumeric(byte) {
                        return "it contains \(show(byte)); allowed are letters, digits and . + / = $"
                    }
                }
            }
            return nil
        }
    }
}
