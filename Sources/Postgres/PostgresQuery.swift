/// A SQL statement with its parameters bound as `$1`, `$2`, …
///
/// Values interpolated into a query literal become parameters, never SQL text:
///
/// ```swift
/// let q: PostgresQuery = "SELECT * FROM app.items WHERE owner = \(owner) AND version > \(version)"
/// // sql: "SELECT * FROM app.items WHERE owner = $1 AND version > $2", binds: [owner, version]
/// ```
///
/// Text that must be pasted into the statement (a migration file, an identifier the code itself
/// chose) goes through `init(unsafeSQL:)` or `\(unsafeRaw:)`, so the unsafe path says so.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation {
    public private(set) var sql: String
    /// Parameter values in the text format; `nil` is SQL NULL.
    public private(set) var binds: [String?]

    public init(unsafeSQL sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            binds.append(value.postgresText)
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            binds.append(value?.postgresText)
            sql += "$\(binds.count)"
        }

        /// Pastes `text` into the SQL verbatim. Only for text the program itself controls.
        public mutating func appendInterpolation(unsafeRaw text: String) { sql += text }
    }
}
