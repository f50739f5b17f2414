import Foundation

/// Every failure the `Postgres` module reports.
///
/// A struct over a private code enum (as postgres-nio's `PSQLError`), so cases can be added
/// without breaking callers. `description` stays generic: server messages and SQL text go to
/// `debugDescription` and logs only, never into an HTTP body.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case connectionFailed, connectionLost, server, cancelled, poolTimeout, poolClosed
            case decoding, copyFailed, protocolViolation
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The connection could not be established (bad URL, server down, authentication).
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection broke during or before the call; the pool discards it.
        public static let connectionLost = Code(.connectionLost)
        /// The server answered with an error; see `sqlState`.
        public static let server = Code(.server)
        /// The query was cancelled (task cancellation → `PQcancel`, SQLSTATE 57014).
        public static let cancelled = Code(.cancelled)
        /// No connection became free within the pool's acquire timeout.
        public static let poolTimeout = Code(.poolTimeout)
        /// The pool was shut down.
        public static let poolClosed = Code(.poolClosed)
        /// A value could not be decoded into the requested Swift type.
        public static let decoding = Code(.decoding)
        /// COPY FROM STDIN failed on the client side.
        public static let copyFailed = Code(.copyFailed)
        /// libpq returned something this wrapper did not expect.
        public static let protocolViolation = Code(.protocolViolation)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The five-character SQLSTATE (`23505`, `40001`, …) when the server sent one.
    public var sqlState: String?
    /// The server's primary message, or libpq's.
    public var message: String
    public var detail: String?
    public var hint: String?
    /// The constraint a violation names (`events_stream_id_stream_version_key`).
    public var constraint: String?
    public var table: String?

    public init(
        code: Code, message: String, sqlState: String? = nil, detail: String? = nil,
        hint: String? = nil, constraint: String? = nil, table: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.table = table
    }

    /// Whether running the same work again on a fresh connection may succeed.
    ///
    /// True for a lost connection, pool exhaustion, serialization failures (`40001`),
    /// deadlocks (`40P01`) and server shutdown / admin termination (class `57P`) and
    /// connection exceptions (class `08`). A caller may retry only work that is idempotent:
    /// a lost connection says nothing about whether a commit happened.
    public var isRetryable: Bool {
        if code == .connectionLost || code == .poolTimeout { return true }
        guard code == .server, let state = sqlState else { return false }
        return state == "40001" || state == "40P01" || state.hasPrefix("57P") || state.hasPrefix("08")
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }

    public var description: String {
        switch code {
        case .server: "PostgreSQL error \(sqlState ?? "?????")"
        default: "PostgreSQL \(code)"
        }
    }

    public var debugDescription: String {
        var parts = ["PostgresError(\(code)"]
        if let sqlState { parts.append("sqlState: \(sqlState)") }
        parts.append("message: \(message)")
        if let detail { parts.append("detail: \(detail)") }
        if let hint { parts.append("hint: \(hint)") }
        if let constraint { parts.append("constraint: \(constraint)") }
        if let table { parts.append("table: \(table)") }
        return parts.joined(separator: ", ") + ")"
    }
}
