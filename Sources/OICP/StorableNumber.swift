/// Whether a JSON number can be stored by PostgreSQL's `jsonb`, which keeps numbers as
/// `numeric`.
///
/// `numeric` holds at most 131,072 digits before the decimal point and 16,383 after it
/// (PostgreSQL manual, "Arbitrary Precision Numbers"; `numeric_in` checks the display scale and
/// the weight after applying the exponent, and zero is no exception to the scale). A body with
/// `"X": 1e200000` in an unknown property is valid JSON and valid OICP, but its cast to `jsonb`
/// fails; refused at validation, it is a `022` naming the field instead of a failed commit.
enum StorableNumber {
    /// Digits after the decimal point `numeric` keeps at most.
    static let maxScale = 16_383
    /// The largest power of ten of a digit before the decimal point (131,072 digits).
    static let maxWeight = 131_071

    /// Whether `literal` (RFC 8259 number syntax) fits `numeric`.
    static func fits(_ literal: String) -> Bool {
        var integerDigits = 0  // significant: after leading zeros
        var fractionDigits = 0
        var leadingFractionZeros = 0  // zeros right after the point, before any non-zero digit
        var nonZero = false
        var exponent = 0
        var exponentNegative = false
        var exponentOverflow = false
        var part = 0  // 0 integer, 1 fraction, 2 exponent
        for byte in literal.utf8 {
            switch byte {
            case UInt8(ascii: "-") where part != 2, UInt8(ascii: "+"): continue
            case UInt8(ascii: "-"): exponentNegative = true
            case UInt8(ascii: "."): part = 1
            case UInt8(ascii: "e"), UInt8(ascii: "E"): part = 2
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let digit = Int(byte - UInt8(ascii: "0"))
                switch part {
                case 0:
                    if digit != 0 || nonZero { integerDigits += 1 }
                    if digit != 0 { nonZero = true }
                case 1:
                    fractionDigits += 1
                    if digit != 0 { nonZero = true } else if !nonZero { leadingFractionZeros += 1 }
                default:
                    if exponent > 100_000_000 { exponentOverflow = true } else { exponent = exponent * 10 + digit }
                }
            default: return false
            }
        }
        if exponentOverflow { return false }
        let signedExponent = exponentNegative ? -exponent : exponent
        // The display scale: fraction digits as written, less the exponent.
        if fractionDigits - signedExponent > maxScale { return false }
        guard nonZero else { return true }
        // The power of ten of the most significant digit.
        let weight = (integerDigits > 0 ? integerDigits - 1 : -(leadingFractionZeros + 1)) + signedExponent
        return weight <= maxWeight
    }
}
