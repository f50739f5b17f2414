import Postgres

/// Failures of the event store that are not a `PostgresError`.
public struct EventStoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable { case eventIDReused, closed, invalidRequest }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// Some, not all, of an append's event ids are stored already: the caller reused ids.
        public static let eventIDReused = Code(.eventIDReused)
        /// The store was shut down.
        public static let closed = Code(.closed)
        /// The request is malformed (no events, a bad stream name).
        public static let invalidRequest = Code(.invalidRequest)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
