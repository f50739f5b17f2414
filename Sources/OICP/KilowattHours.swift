import Foundation

/// An energy value in kWh with at most 3 fraction digits, held exactly in thousandths (Wh).
///
/// OICP's "Decimal (,3)" (MeterValueStart/End, ConsumedEnergy, ConsumedEnergyProgress, the
/// `meterValues` items; REFERENCE §3.12). `Codable` as a JSON number (via `Decimal`, so no
/// binary rounding); decoding refuses values with more than 3 significant fraction digits.
public struct KilowattHours: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The value in thousandths of a kWh, e.g. `22253` for 22.253 kWh.
    public let thousandths: Int64

    /// Creates a value from thousandths of a kWh.
    public init(thousandths: Int64) {
        self.thousandths = thousandths
    }

    /// Parses a decimal such as `"22.253"`, `"-0.5"` or `"1.2e3"`; `nil` when it is not a
    /// number, has more than 3 significant fraction digits or does not fit.
    public init?(_ text: String) {
        guard case .success(let value) = DecimalLiteral.scaled(text, scale: 3) else { return nil }
        self.thousandths = value
    }

    /// The shortest exact decimal text, e.g. `"22.253"`, `"2.75"`, `"12"`, `"-0.5"`.
    public var text: String {
        let magnitude = thousandths.magnitude
        var result = thousandths < 0 ? "-" : ""
        result += String(magnitude / 1000)
        var fraction = Int(magnitude % 1000)
        guard fraction != 0 else { return result }
        var digits = 3
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        let fractionText = String(fraction)
        return result + "." + String(repeating: "0", count: digits - fractionText.count) + fractionText
    }

    public var description: String { text + " kWh" }

    public static func < (lhs: KilowattHours, rhs: KilowattHours) -> Bool {
        lhs.thousandths < rhs.thousandths
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let decimal = try container.decode(Decimal.self)
        guard case .success(let value) = DecimalLiteral.scaled(decimal.description, scale: 3) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "\(decimal) kWh has more than 3 fraction digits or does not fit")
        }
        self.thousandths = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(
            Decimal(sign: thousandths < 0 ? .minus : .plus, exponent: -3, significand: Decimal(thousandths.magnitude)))
    }
}
