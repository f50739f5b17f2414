import Foundation

/// Exact conversion of a JSON number literal to a scaled `Int64`, without `Double`.
///
/// Used for "Decimal (,3)" kWh values (scale 3, REFERENCE §3.12) and the integer
/// `ChargingDuration` (scale 0). The check is on the value, after the exponent and trailing
/// zeros are accounted for: `1.2340` and `12345e-4`… are judged by what they denote
/// (`1.234` fits scale 3, `1.2345` does not), as Java's `BigDecimal.stripTrailingZeros()`
/// based `@Digits` check does.
enum DecimalLiteral {
    /// Why a literal does not fit.
    enum Failure: Error, Equatable {
        /// Not RFC 8259 number syntax.
        case notANumber
        /// More significant fraction digits than the scale allows.
        case tooManyFractionDigits(Int)
        /// The scaled value does not fit `Int64`.
        case outOfRange
    }

    /// `text × 10^scale` as an exact `Int64`.
    static func scaled(_ text: String, scale: Int) -> Result<Int64, Failure> {
        var copy = text
        return copy.withUTF8 { scaled($0, scale: scale) }
    }

    static func scaled(_ bytes: UnsafeBufferPointer<UInt8>, scale: Int) -> Result<Int64, Failure> {
        let count = bytes.count
        var position = 0
        var negative = false
        if position < count, bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        // Significant digits (leading zeros dropped), with the power of ten they are multiplied by.
        var significand: UInt64 = 0
        var significantDigits = 0
        var pendingZeros = 0  // zeros seen after the last non-zero digit, not yet multiplied in
        var power = scale
        var sawDigit = false
        var overflow = false

        func take(_ digit: UInt8, fractional: Bool) {
            if fractional { power -= 1 }
            if digit == 0 {
                if significantDigits > 0 { pendingZeros += 1 }
                return
            }
            // Flush pending zeros, then the digit.
            for _ in 0..<pendingZeros { multiply(by: 10) }
            significantDigits += pendingZeros
            pendingZeros = 0
            multiply(by: 10)
            add(UInt64(digit))
            significantDigits += 1
        }
        func multiply(by factor: UInt64) {
            let (result, didOverflow) = significand.multipliedReportingOverflow(by: factor)
            if didOverflow { overflow = true }
            significand = result
        }
        func add(_ digit: UInt64) {
            let (result, didOverflow) = significand.addingReportingOverflow(digit)
            if didOverflow { overflow = true }
            significand = result
        }

        while position < count, bytes[position] &- UInt8(ascii: "0") < 10 {
            take(bytes[position] - UInt8(ascii: "0"), fractional: false)
            sawDigit = true
            position += 1
        }
        guard sawDigit else { return .failure(.notANumber) }
        if position < count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            var sawFraction = false
            while position < count, bytes[position] &- UInt8(ascii: "0") < 10 {
                take(bytes[position] - UInt8(ascii: "0"), fractional: true)
                sawFraction = true
                position += 1
            }
            guard sawFraction else { return .failure(.notANumber) }
        }
        if position < count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            var exponentNegative = false
            if position < count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                exponentNegative = bytes[position] == UInt8(ascii: "-")
                position += 1
            }
            var exponent = 0
            var sawExponent = false
            while position < count, bytes[position] &- UInt8(ascii: "0") < 10 {
                // Saturate: anything beyond a million digits is out of range or zero anyway.
                exponent = min(exponent * 10 + Int(bytes[position] - UInt8(ascii: "0")), 10_000_000)
                sawExponent = true
                position += 1
            }
            guard sawExponent else { return .failure(.notANumber) }
            power += exponentNegative ? -exponent : exponent
        }
        guard position == count else { return .failure(.notANumber) }
        if significantDigits == 0 { return .success(0) }

        // Trailing zeros of the significand raise the power instead.
        power += pendingZeros
        if power < 0 { return .failure(.tooManyFractionDigits(scale - power)) }
        if overflow { return .failure(.outOfRange) }
        if power > 19 { return .failure(.outOfRange) }
        for _ in 0..<power {
            multiply(by: 10)
            if overflow { return .failure(.outOfRange) }
        }
        if negative {
            guard significand <= UInt64(Int64.max) + 1 else { return .failure(.outOfRange) }
            return .success(significand == UInt64(Int64.max) + 1 ? Int64.min : -Int64(significand))
        }
        guard significand <= UInt64(Int64.max) else { return .failure(.outOfRange) }
        return .success(Int64(significand))
    }
}
