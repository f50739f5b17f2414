import Foundation
import Postgres

/// Rows as the text of a PostgreSQL array of a table's row type (`'{"(…)","(…)"}'`), for
/// `unnest($n::text::schema.table[])`: the columns must be the table's, all of them, in its order
/// (`RecordArrayTests` holds the column lists to the tables).
///
/// Each value goes in as COPY would take it, through its column type's input function: text
/// quoted (a NULL is an empty field), integers and UUIDs as they are. The array's input parses
/// each row once, where a JSON array of objects was parsed once as JSON (its keys sorted per
/// object) and then looked up key by key per row: 40 session states took 951 µs that way and
/// 228 µs this way (`docs/benchmarks.md`).
struct RecordArray: RowWriter {
    private let columns: Int
    private var bytes: [UInt8] = [0x7B]  // {
    private var column = 0
    private var rows = 0

    init(columns: Int) {
        self.columns = columns
    }

    /// The array, closed.
    var literal: String { String(decoding: bytes + [0x7D], as: UTF8.self) }

    mutating func text(_ value: String?) {
        field()
        guard var value else { return }
        bytes.append(contentsOf: [0x5C, 0x22])  // \"
        value.withUTF8 { Self.appendEscaped($0, to: &bytes) }
        bytes.append(contentsOf: [0x5C, 0x22])
    }

    /// A quoted field of a row (`"` and `\` escaped with `\`) inside a quoted element of the
    /// array (escaped again): `\` becomes four, `"` becomes `\\\"`. Most values have neither:
    /// one copy, as `CopyWriter` does.
    private static func appendEscaped(_ value: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        guard value.contains(where: { $0 == 0x5C || $0 == 0x22 }) else {
            bytes.append(contentsOf: value)
            return
        }
        for byte in value {
            switch byte {
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C, 0x5C, 0x5C])
            case 0x22: bytes.append(contentsOf: [0x5C, 0x5C, 0x5C, 0x22])
            default: bytes.append(byte)
            }
        }
    }

    mutating func integer(_ value: Int64) {
        field()
        RowBytes.appendDecimal(value, to: &bytes)
    }

    mutating func uuid(_ value: UUID) {
        field()
        RowBytes.appendUUID(value, to: &bytes)
    }

    mutating func json(_ value: String?) { text(value) }

    mutating func endRow() {
        precondition(column == columns, "a row of \(column) values for \(columns) columns")
        bytes.append(contentsOf: [0x29, 0x22])  // )"
        column = 0
        rows += 1
    }

    private mutating func field() {
        precondition(column < columns, "more values than columns")
        if column == 0 {
            if rows > 0 { bytes.append(0x2C) }
            bytes.append(contentsOf: [0x22, 0x28])  // "(
        } else {
            bytes.append(0x2C)
        }
        column += 1
    }
}
