import Postgres

/// Failures of the event store that are not a `PostgresError`.
public struct EventStoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable { case eventIDReused, closed, invalidRequest, overloaded, commitTimedOut, streamRetiring }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// Some, not all, of an append's event ids are stored already: the caller reused ids.
        public static let eventIDReused = Code(.eventIDReused)
        /// The store was shut down.
        public static let closed = Code(.closed)
        /// The request is malformed (no events, a bad stream name).
        public static let invalidRequest = Code(.invalidRequest)
        /// Too many appends are waiting for a commit: nothing was stored; try again shortly.
        public static let overloaded = Code(.overloaded)
        /// The commit did not return in time: the append may or may not be stored. Sending it
        /// again is safe (event ids make it a replay if it was).
        public static let commitTimedOut = Code(.commitTimedOut)
        /// The stream's month is being taken out of the store by retention (db/0020, SQLSTATE
        /// LE002): it takes no more events. Once the month is gone, the stream starts anew.
        public static let streamRetiring = Code(.streamRetiring)
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
