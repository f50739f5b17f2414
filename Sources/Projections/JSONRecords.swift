import Foundation
import JSON
import Postgres

/// Rows as a JSON array of objects keyed by column, for `jsonb_populate_recordset`: text values
/// go in as JSON strings and through the column type's input function, as COPY would take them;
/// integers as numbers; JSON columns as the documents they are.
struct JSONRecords: RowWriter {
    /// `"column":` for each column, in order.
    private let keys: [[UInt8]]
    private var bytes: [UInt8] = [0x5B]
    private var column = 0
    private var rows = 0

    init(columns: [String]) {
        keys = columns.map { column in
            var key: [UInt8] = []
            JSONValue.writeString(column, to: &key)
            key.append(0x3A)
            return key
        }
    }

    /// The array, closed.
    var document: String { String(decoding: bytes + [0x5D], as: UTF8.self) }

    mutating func text(_ value: String?) {
        key()
        if let value { JSONValue.writeString(value, to: &bytes) } else { null() }
    }

    mutating func integer(_ value: Int64) {
        key()
        RowBytes.appendDecimal(value, to: &bytes)
    }

    mutating func uuid(_ value: UUID) {
        key()
        bytes.append(0x22)
        RowBytes.appendUUID(value, to: &bytes)
        bytes.append(0x22)
    }

    mutating func json(_ value: String?) {
        key()
        if let value { bytes.append(contentsOf: value.utf8) } else { null() }
    }

    mutating func endRow() {
        precondition(column == keys.count, "a row of \(column) values for \(keys.count) columns")
        bytes.append(0x7D)
        column = 0
        rows += 1
    }

    private mutating func key() {
        precondition(column < keys.count, "more values than columns")
        if column == 0 {
            if rows > 0 { bytes.append(0x2C) }
            bytes.append(0x7B)
        } else {
            bytes.append(0x2C)
        }
        bytes.append(contentsOf: keys[column])
        column += 1
    }

    private mutating func null() { bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C]) }
}
