public import Foundation

/// A Swift value that can be sent as a query parameter in PostgreSQL's text format.
public protocol PostgresEncodable: Sendable {
    var postgresText: String { get }
}

/// A Swift value that can be read from a column in PostgreSQL's text format.
public protocol PostgresDecodable: Sendable {
    /// - Parameter bytes: the column's text, not NUL-terminated; valid only during the call.
    init(postgresText bytes: UnsafeBufferPointer<UInt8>) throws(PostgresError)
}

extension String: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { self }
    public init(postgresText bytes: UnsafeBufferPointer<UInt8>) { self = String(decoding: bytes, as: UTF8.self) }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { self ? "t" : "f" }
    public init(postgresText bytes: UnsafeBufferPointer<UInt8>) throws(PostgresError) {
        guard bytes.count == 1, bytes[0] == UInt8(ascii: "t") || bytes[0] == UInt8(ascii: "f") else {
            throw .decodingFailure(Bool.self, bytes)
        }
        self = bytes[0] == UInt8(ascii: "t")
    }
}

extension Int64: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public init(postgresText bytes: UnsafeBufferPointer<UInt8>) throws(PostgresError) {
        guard let value = parseInteger(bytes) else { throw .decodingFailure(Int64.self, bytes) }
        self = value
    }
}

extension Int: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public init(postgresText bytes: UnsafeBufferPointer<UInt8>) throws(PostgresError) {
        guard let value = parseInteger(bytes) else { throw .decodingFailure(Int.self, bytes) }
        self = Int(value)
    }
}

extension Int32: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public init(postgresText bytes: UnsafeBufferPointer<UInt8>) throws(PostgresError) {
        guard let value = parseInteger(bytes), let narrow = Int32(exactly: value) else {
            throw .decodingFailure(Int32.self, bytes)
        }
        self = narrow
    }
}

/// `xid8` and other unsigned 64-bit values.
extension UInt64: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public init(postgresText bytes: UnsafeBufferPointer<UInt8>) throws(PostgresError) {
        guard let value = UInt64(String(decoding: bytes, as: UTF8.self)) else {
            throw .decodingFailure(UInt64.self, bytes)
        }
        self = value
    }
}

extension Double: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { "\(self)" }
    public init(postgresText bytes: UnsafeBufferPointer<UInt8>) throws(PostgresError) {
        guard let value = Double(String(decoding: bytes, as: UTF8.self)) else {
            throw .decodingFailure(Double.self, bytes)
        }
        self = value
    }
}

extension UUID: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { lowercasedString }

    /// `8-4-4-4-12` lower-case hex, as PostgreSQL writes a uuid, written by hand: Foundation's
    /// `uuidString` formats with `snprintf` and `lowercased()` copies it again, and API pages write
    /// one per row (with them, 6% of the server's CPU answering EVSE timelines).
    public var lowercasedString: String {
        withUnsafeBytes(of: uuid) { raw in
            String(unsafeUninitializedCapacity: 36) { buffer in
                var at = 0
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        buffer[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    buffer[at] = Self.hexDigit(byte >> 4)
                    buffer[at + 1] = Self.hexDigit(byte & 0x0F)
                    at += 2
                }
                return at
            }
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10 }
    /// PostgreSQL writes a uuid as 36 lower-case characters, `8-4-4-4-12`; decoded by hand, as
    /// `UUID(uuidString:)` costs a String and a Foundation call per row on a replay.
    public init(postgresText bytes: UnsafeBufferPointer<UInt8>) throws(PostgresError) {
        guard bytes.count == 36 else { throw .decodingFailure(UUID.self, bytes) }
        var raw = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0),
                   UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        let ok = withUnsafeMutableBytes(of: &raw) { out -> Bool in
            var index = 0
            for byte in 0..<16 {
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    guard bytes[index] == UInt8(ascii: "-") else { return false }
                    index += 1
                }
                guard let high = hexValue(bytes[index]), let low = hexValue(bytes[index + 1]) else { return false }
                out[byte] = high << 4 | low
                index += 2
            }
            return true
        }
        guard ok else { throw .decodingFailure(UUID.self, bytes) }
        self = UUID(uuid: raw)
    }
}

/// `timestamptz`. Connections run with `TimeZone=UTC` and `DateStyle=ISO`, so values arrive as
/// `2026-11-27 10:00:00.123456+00`; parameters are sent as ISO 8601 with microseconds.
extension Date: PostgresEncodable, PostgresDecodable {
    public var postgresText: String {
        let micros = (timeIntervalSince1970 * 1_000_000).rounded()
        return Self.isoText(microseconds: Int64(micros))
    }

    static func isoText(microseconds: Int64) -> String {
        var seconds = microseconds / 1_000_000
        var fraction = microseconds % 1_000_000
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = civilFromDays(days)
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))Z"
    }

    public init(postgresText bytes: UnsafeBufferPointer<UInt8>) throws(PostgresError) {
        // YYYY-MM-DD HH:MM:SS[.ffffff]+00
        func digits(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= bytes.count else { return nil }
            var v: Int64 = 0
            for i in from..<(from + count) {
                let c = bytes[i]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            return v
        }
        guard bytes.count >= 22, let y = digits(0, 4), let mo = digits(5, 2), let d = digits(8, 2),
            let h = digits(11, 2), let mi = digits(14, 2), let s = digits(17, 2)
        else { throw .decodingFailure(Date.self, bytes) }
        var index = 19
        var micros: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale: Int64 = 100_000
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                micros += Int64(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        // Offset: +00 / +hh:mm. The session runs in UTC, so anything else is a bug.
        guard index + 3 <= bytes.count, let offsetHours = digits(index + 1, 2) else {
            throw .decodingFailure(Date.self, bytes)
        }
        let sign: Int64 = bytes[index] == UInt8(ascii: "-") ? -1 : 1
        var offsetMinutes: Int64 = 0
        if index + 6 <= bytes.count, bytes[index + 3] == UInt8(ascii: ":"), let m = digits(index + 4, 2) {
            offsetMinutes = m
        }
        let days = daysFromCivil(y, mo, d)
        let seconds = days * 86_400 + h * 3600 + mi * 60 + s - sign * (offsetHours * 3600 + offsetMinutes * 60)
        self = Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (m <= 2 ? y + 1 : y, m, d)
}

private func parseInteger(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
    guard !bytes.isEmpty else { return nil }
    var index = 0
    var negative = false
    if bytes[0] == UInt8(ascii: "-") {
        negative = true
        index = 1
        guard bytes.count > 1 else { return nil }
    }
    var value: Int64 = 0
    while index < bytes.count {
        let c = bytes[index]
        guard c >= 48, c <= 57 else { return nil }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (a, o2) = negative ? m.subtractingReportingOverflow(Int64(c - 48)) : m.addingReportingOverflow(Int64(c - 48))
        if o1 || o2 { return nil }
        value = a
        index += 1
    }
    return value
}

extension PostgresError {
    static func decodingFailure(_ type: Any.Type, _ bytes: UnsafeBufferPointer<UInt8>) -> PostgresError {
        PostgresError(
            code: .decoding,
            message: "cannot decode \(type) from \(String(decoding: bytes.prefix(64), as: UTF8.self))"
        )
    }
}

/// `text[]`, sent as an array literal with every element quoted.
extension Array: PostgresEncodable where Element == String {
    public var postgresText: String {
        var out = "{"
        for (index, element) in enumerated() {
            if index > 0 { out += "," }
            out += "\""
            // Most elements (ids, names) need no escape: appended whole, not scalar by scalar
            // (an import's id lookups spent 7% of its CPU here).
            if element.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                for scalar in element.unicodeScalars {
                    if scalar == "\"" || scalar == "\\" { out += "\\" }
                    out.unicodeScalars.append(scalar)
                }
            } else {
                out += element
            }
            out += "\""
        }
        return out + "}"
    }
}

@inline(__always)
private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
