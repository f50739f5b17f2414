import Foundation
import JSON

/// A timestamp exactly as received plus its instant.
///
/// OICP date/time values must carry "a time zone offset which refers to the charge point
/// location", and the HBS stores and forwards them "in their original form" (OICP 2.3 CPO
/// chapter 1 "Time zones", REFERENCE §3.11), so `text` is kept verbatim next to the instant.
///
/// Accepted syntax is RFC 3339 `date-time` (what the OAS `format: date-time` means, REFERENCE
/// §7.7): `YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|±hh:mm)`, `T`/`Z` in either case, with a real
/// calendar check (no February 30, hour ≤ 23, minute ≤ 59, second ≤ 60). A value without an
/// offset is refused. A leap second `:60` counts as the last millisecond of second `:59`;
/// digits below a millisecond are dropped from `epochMilliseconds` but kept in `text`.
///
/// `Codable` as the plain string `text`.
public struct Timestamp: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The value as received, e.g. `"2024-05-14T09:32:10+02:00"`.
    public let text: String
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public let epochMilliseconds: Int64
    /// The offset from UTC in seconds (`+02:00` is 7200; `Z` is 0).
    public let utcOffsetSeconds: Int

    /// Parses an RFC 3339 date-time with offset; `nil` when `text` is not one.
    public init?(_ text: String) {
        guard case .success(let value) = Self.parse(text) else { return nil }
        self = value
    }

    /// Formats an instant as `YYYY-MM-DDThh:mm:ss[.SSS]±hh:mm` in the given offset.
    /// - Parameters:
    ///   - epochMilliseconds: Milliseconds since 1970-01-01T00:00:00Z (years 0000–9999).
    ///   - utcOffsetSeconds: Whole minutes, less than 24 hours either way.
    public init(epochMilliseconds: Int64, utcOffsetSeconds: Int = 0) {
        precondition(
            utcOffsetSeconds % 60 == 0 && abs(utcOffsetSeconds) < 86_400, "offset must be whole minutes below 24 h")
        let local = epochMilliseconds + Int64(utcOffsetSeconds) * 1000
        let days = Self.floorDivide(local, 86_400_000)
        let millisecondOfDay = local - days * 86_400_000
        let (year, month, day) = Self.civil(fromDays: days)
        precondition((0...9999).contains(year), "year must be 0000–9999")
        var text =
            Self.pad(year, 4) + "-" + Self.pad(month, 2) + "-" + Self.pad(day, 2) + "T"
            + Self.pad(Int(millisecondOfDay / 3_600_000), 2) + ":"
            + Self.pad(Int(millisecondOfDay / 60_000 % 60), 2) + ":"
            + Self.pad(Int(millisecondOfDay / 1000 % 60), 2)
        if millisecondOfDay % 1000 != 0 { text += "." + Self.pad(Int(millisecondOfDay % 1000), 3) }
        let offsetMinutes = abs(utcOffsetSeconds) / 60
        text +=
            (utcOffsetSeconds < 0 ? "-" : "+") + Self.pad(offsetMinutes / 60, 2) + ":" + Self.pad(offsetMinutes % 60, 2)
        self.text = text
        self.epochMilliseconds = epochMilliseconds
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    private init(text: String, epochMilliseconds: Int64, utcOffsetSeconds: Int) {
        self.text = text
        self.epochMilliseconds = epochMilliseconds
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    public var description: String { text }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        switch Self.parse(text) {
        case .success(let value): self = value
        case .failure(let failure):
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "timestamp \(Quote.value(text)) \(failure.reason)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    // MARK: Parsing

    /// Why a string is not an acceptable timestamp; `reason` completes "ChargingStart "…" …".
    struct ParseFailure: Error {
        var reason: String
    }

    static let syntaxHint =
        "is not an RFC 3339 date-time YYYY-MM-DDThh:mm:ss[.fraction]±hh:mm (e.g. \"2024-05-14T09:32:10+02:00\")"

    /// Parses `text` (see the type's documentation for the accepted syntax).
    static func parse(_ text: String) -> Result<Timestamp, ParseFailure> {
        var copy = text
        return copy.withUTF8 { bytes in
            parse(bytes).map { Timestamp(text: text, epochMilliseconds: $0.epoch, utcOffsetSeconds: $0.offset) }
        }
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<(epoch: Int64, offset: Int), ParseFailure>
    {
        let count = bytes.count
        func digits(_ start: Int, _ length: Int) -> Int? {
            guard start + length <= count else { return nil }
            var value = 0
            for position in start..<start + length {
                let digit = bytes[position] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int(digit)
            }
            return value
        }
        func byte(_ position: Int) -> UInt8? { position < count ? bytes[position] : nil }

        guard let year = digits(0, 4), byte(4) == UInt8(ascii: "-"), let month = digits(5, 2),
            byte(7) == UInt8(ascii: "-"), let day = digits(8, 2)
        else { return .failure(ParseFailure(reason: syntaxHint)) }
        guard let separator = byte(10), separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") else {
            if byte(10) == UInt8(ascii: " ") {
                return .failure(ParseFailure(reason: syntaxHint + "; use \"T\" between date and time, not a space"))
            }
            return .failure(ParseFailure(reason: syntaxHint))
        }
        guard let hour = digits(11, 2), byte(13) == UInt8(ascii: ":"), let minute = digits(14, 2),
            byte(16) == UInt8(ascii: ":"), let second = digits(17, 2)
        else { return .failure(ParseFailure(reason: syntaxHint)) }

        var position = 19
        var nanosecond = 0
        if byte(position) == UInt8(ascii: ".") {
            position += 1
            let fractionStart = position
            while let next = byte(position), next &- UInt8(ascii: "0") < 10 { position += 1 }
            let fractionLength = position - fractionStart
            guard fractionLength >= 1 else { return .failure(ParseFailure(reason: syntaxHint)) }
            guard fractionLength <= 9 else {
                return .failure(ParseFailure(reason: "has \(fractionLength) fraction digits; at most 9 are allowed"))
            }
            nanosecond = digits(fractionStart, fractionLength)!
            for _ in fractionLength..<9 { nanosecond *= 10 }
        }

        let offsetSeconds: Int
        switch byte(position) {
        case nil:
            return .failure(
                ParseFailure(
                    reason: "has no UTC offset; OICP requires the charge point's UTC offset "
                        + "(e.g. \"+02:00\"; OICP 2.3 \"Time zones\")"))
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            offsetSeconds = 0
            position += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = byte(position) == UInt8(ascii: "-") ? -1 : 1
            guard let offsetHour = digits(position + 1, 2), byte(position + 3) == UInt8(ascii: ":"),
                let offsetMinute = digits(position + 4, 2)
            else { return .failure(ParseFailure(reason: syntaxHint + "; the offset must be ±hh:mm")) }
            guard offsetHour <= 23, offsetMinute <= 59 else {
                return .failure(ParseFailure(reason: "has an out-of-range UTC offset (hours 00–23, minutes 00–59)"))
            }
            offsetSeconds = sign * (offsetHour * 3600 + offsetMinute * 60)
            position += 6
        default:
            return .failure(ParseFailure(reason: syntaxHint))
        }
        guard position == count else {
            return .failure(ParseFailure(reason: syntaxHint + "; unexpected text after the offset"))
        }

        guard (1...12).contains(month) else {
            return .failure(ParseFailure(reason: "has month \(pad(month, 2)); months are 01–12"))
        }
        let monthLength = daysIn(month: month, year: year)
        guard day >= 1, day <= monthLength else {
            return .failure(
                ParseFailure(
                    reason: "has day \(pad(day, 2)), which does not exist in \(monthNames[month - 1]) \(pad(year, 4))"))
        }
        guard hour <= 23 else { return .failure(ParseFailure(reason: "has hour \(pad(hour, 2)); hours are 00–23")) }
        guard minute <= 59 else {
            return .failure(ParseFailure(reason: "has minute \(pad(minute, 2)); minutes are 00–59"))
        }
        guard second <= 60 else {
            return .failure(ParseFailure(reason: "has second \(pad(second, 2)); seconds are 00–60"))
        }

        let days = Int64(daysFromCivil(year: year, month: month, day: day))
        var milliseconds = Int64(hour * 3_600_000 + minute * 60_000)
        if second == 60 {
            milliseconds += 59_999  // leap second: the last millisecond of :59
        } else {
            milliseconds += Int64(second * 1000 + nanosecond / 1_000_000)
        }
        let epoch = days * 86_400_000 + milliseconds - Int64(offsetSeconds) * 1000
        return .success((epoch, offsetSeconds))
    }

    // MARK: Calendar (proleptic Gregorian; H. Hinnant, "chrono-compatible low-level date algorithms")

    private static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ]

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
    /// `package`: the ledger names its daily streams with it.
    package static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = Int(days) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let quotient = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
