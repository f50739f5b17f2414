public import Foundation

/// Takes a row's values one at a time, in column order, so rows go out without an array of
/// strings per row: `CopyWriter` writes them in the text COPY format; the projector's
/// `RecordArray` (an array of a table's rows, for `unnest`) takes the same calls.
public protocol RowWriter {
    /// A text value (or NULL), read by the column type's input function.
    mutating func text(_ value: String?)
    mutating func integer(_ value: Int64)
    /// Lower-case, hyphenated.
    mutating func uuid(_ value: UUID)
    /// A value that is a JSON document itself, for a `json` or `jsonb` column.
    mutating func json(_ value: String?)
    /// Ends the row; the next value starts the next one.
    mutating func endRow() throws(PostgresError)
}

extension RowWriter {
    public mutating func integer(_ value: Int) { integer(Int64(value)) }
    public mutating func integer(_ value: Int?) {
        if let value { integer(Int64(value)) } else { text(nil) }
    }
    /// As PostgreSQL's boolean input reads it.
    public mutating func flag(_ value: Bool) { text(value ? "t" : "f") }
}

/// Digits and UUIDs straight into a byte buffer, with no intermediate `String`.
package enum RowBytes {
    package static func appendDecimal(_ value: Int64, to buffer: inout [UInt8]) {
        if value < 0 { buffer.append(0x2D) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            repeat {
                bytes[count] = UInt8(truncatingIfNeeded: magnitude % 10) &+ 0x30
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(bytes[index]) }
        }
    }

    package static func appendUUID(_ value: UUID, to buffer: inout [UInt8]) {
        let hex: StaticString = "0123456789abcdef"
        withUnsafeBytes(of: value.uuid) { raw in
            hex.withUTF8Buffer { digits in
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 { buffer.append(0x2D) }
                    buffer.append(digits[Int(byte >> 4)])
                    buffer.append(digits[Int(byte & 0x0F)])
                }
            }
        }
    }
}
