public import Foundation
public import OICP

/// What the ledger knows of a session's lifecycle: enough to spot notifications that arrive
/// out of the order OICP describes (REFERENCE.md §4.2: Start, Progress*, Error*, End).
///
/// The ledger records facts, so such notifications are stored all the same, with a lifecycle
/// anomaly attached. The state is a fold over the stream's event types.
public struct SessionLifecycle: Sendable, Hashable {
    /// The stream's version: the number of events in it.
    public var version: Int
    public var started: Bool
    public var ended: Bool
    /// The EvseID and OperatorID of the session's first notification: every later one must
    /// carry the same (a session happens at one EVSE, for one operator).
    public var owner: SessionOwner?
    /// Errors recorded without an `Idempotency-Key`, newest last (at most `recentErrorLimit`):
    /// what a keyless retry of an Error is recognised by.
    public var recentErrors: [RecordedError]

    /// Keyless Errors remembered per session.
    public static let recentErrorLimit = 16

    public init(version: Int = 0, started: Bool = false, ended: Bool = false, owner: SessionOwner? = nil, recentErrors: [RecordedError] = []) {
        self.version = version
        self.started = started
        self.ended = ended
        self.owner = owner
        self.recentErrors = recentErrors
    }

    /// An Error notification recorded without an `Idempotency-Key`, and where it is stored.
    public struct RecordedError: Sendable, Hashable {
        /// `NotificationDecision.contentDigest` of its body.
        public var digest: String
        public var receivedAt: Date
        public var position: Int64
        public var streamVersion: Int
        public var transactionID: UInt64

        public init(digest: String, receivedAt: Date, position: Int64, streamVersion: Int, transactionID: UInt64) {
            self.digest = digest
            self.receivedAt = receivedAt
            self.position = position
            self.streamVersion = streamVersion
            self.transactionID = transactionID
        }
    }

    /// The Error with content `digest` recorded within `window` before `receivedAt`, if any: a
    /// keyless Error sent again (a client retrying after a timeout) is that one, not a new fact.
    /// - Parameter earlier: the digest an Error with an identification had before db/0019.
    public func replayedError(digest: String, earlier: String? = nil, receivedAt: Date, window: Duration) -> RecordedError? {
        guard window > .zero else { return nil }
        let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        return recentErrors.last {
            ($0.digest == digest || (earlier != nil && $0.digest == earlier)) && receivedAt.timeIntervalSince($0.receivedAt) <= seconds
                && $0.receivedAt.timeIntervalSince(receivedAt) <= seconds
        }
    }

    /// Remembers a keyless Error just recorded.
    public mutating func remember(_ error: RecordedError) {
        recentErrors.append(error)
        if recentErrors.count > Self.recentErrorLimit { recentErrors.removeFirst(recentErrors.count - Self.recentErrorLimit) }
    }

    /// Folds events in stream order.
    public static func fold(_ eventTypes: some Sequence<String>) -> SessionLifecycle {
        var state = SessionLifecycle()
        for type in eventTypes { state.apply(eventType: type) }
        return state
    }

    public mutating func apply(eventType: String) {
        version += 1
        switch LedgerEventType(rawValue: eventType) {
        case .chargingStarted: started = true
        case .chargingEnded: ended = true
        default: break
        }
    }

    /// The lifecycle anomalies a notification of `type` would have if it came next.
    public func anomalies(receiving type: NotificationType) -> [Anomaly] {
        var found: [Anomaly] = []
        if type == .start, started {
            found.append(Anomaly(code: "start_repeated", message: "a second Start for this session"))
        }
        if type == .progress, !started {
            found.append(Anomaly(code: "progress_before_start", message: "Progress received before any Start for this session"))
        }
        if type == .end, !started {
            found.append(Anomaly(code: "end_before_start", message: "End received before any Start for this session"))
        }
        if type == .end, ended {
            found.append(Anomaly(code: "end_repeated", message: "a second End for this session"))
        }
        if ended, type != .end {
            found.append(Anomaly(code: "notification_after_end", message: "\(type.rawValue) received after the session's End"))
        }
        return found
    }
}
