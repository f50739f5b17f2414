internal import CLibPQ
import Foundation

/// The rows of one statement's result.
///
/// Owns its `PGresult` and calls `PQclear` exactly once, in `deinit`, however the scope that
/// made it is left. Rows are read straight out of the `PGresult` without copying.
///
/// `@unchecked Sendable`: libpq documents a `PGresult` as read-only once returned and safe to
/// read from any thread ("a PGresult ... can be freely shared between threads", libpq manual
/// §34.21 Behavior in Threaded Programs); this class only ever reads it, and never exposes
/// the pointer.
public final class PostgresResult: @unchecked Sendable {
    private let raw: OpaquePointer
    public let rowCount: Int
    public let columnCount: Int

    init(_ raw: OpaquePointer) {
        self.raw = raw
        self.rowCount = Int(PQntuples(raw))
        self.columnCount = Int(PQnfields(raw))
    }

    deinit { PQclear(raw) }

    /// The number of rows a command touched (`INSERT 0 5` → 5), or 0.
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(raw))) ?? 0 }

    public func columnName(_ column: Int) -> String { String(cString: PQfname(raw, Int32(column))) }

    public func isNull(row: Int, column: Int) -> Bool { PQgetisnull(raw, Int32(row), Int32(column)) == 1 }

    /// Decodes one cell.
    /// - Throws: `PostgresError` with code `.decoding` when the cell is NULL or not a `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, row: Int, column: Int) throws(PostgresError) -> T {
        precondition(row < rowCount && column < columnCount, "cell (\(row), \(column)) is outside the result")
        guard !isNull(row: row, column: column) else {
            throw PostgresError(code: .decoding, message: "column \(columnName(column)) is NULL, expected \(T.self)")
        }
        return try T(postgresText: bytes(row: row, column: column))
    }

    /// Decodes one cell that may be NULL.
    public func decode<T: PostgresDecodable>(_ type: T?.Type, row: Int, column: Int) throws(PostgresError) -> T? {
        if isNull(row: row, column: column) { return nil }
        return try T(postgresText: bytes(row: row, column: column))
    }

    /// The cell's text as raw bytes, valid while this result lives.
    public func bytes(row: Int, column: Int) -> UnsafeBufferPointer<UInt8> {
        let length = Int(PQgetlength(raw, Int32(row), Int32(column)))
        let pointer = UnsafeRawPointer(PQgetvalue(raw, Int32(row), Int32(column))!)
        return UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: UInt8.self), count: length)
    }

    /// Each row, for `for row in result.rows { try row.decode(...) }`.
    public var rows: Rows { Rows(result: self) }

    public struct Rows: RandomAccessCollection, Sendable {
        let result: PostgresResult
        public var startIndex: Int { 0 }
        public var endIndex: Int { result.rowCount }
        public subscript(position: Int) -> Row { Row(result: result, index: position) }
    }

    public struct Row: Sendable {
        public let result: PostgresResult
        public let index: Int

        public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column: Int) throws(PostgresError) -> T {
            try result.decode(type, row: index, column: column)
        }

        public func decode<T: PostgresDecodable>(_ type: T?.Type, column: Int) throws(PostgresError) -> T? {
            try result.decode(type, row: index, column: column)
        }
    }
}
