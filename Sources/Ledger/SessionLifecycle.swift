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

    public init(version: Int = 0, started: Bool = false, ended: Bool = false) {
        self.version = version
        self.started = started
        self.ended = ended
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
