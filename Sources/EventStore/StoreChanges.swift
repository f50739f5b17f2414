public import Logging
import Postgres
import Synchronization

/// The store's change notifications for the whole process: one LISTEN connection on
/// `ledger_events` (every append's transaction NOTIFYs it once, db/0004), heard once and passed
/// on to every follower's `WakeSignal`.
///
/// The connection opens with the first follower. A NOTIFY can be missed while it is down, so a
/// reconnect rings every follower too, and followers poll on a timer as well.
public final class StoreChanges: Sendable {
    public static let channel = "ledger_events"

    private struct State {
        var followers: [UInt64: WakeSignal] = [:]
        var nextID: UInt64 = 0
        var listener: PostgresListener?
        var closed = false
    }

    private let url: String
    private let settings: SessionSettings
    private let logger: Logger
    private let state = Mutex(State())

    init(url: String, settings: SessionSettings, logger: Logger) {
        self.url = url
        self.settings = settings
        self.logger = logger
    }

    /// A follower: `signal` rings on every change from now on, until `unfollow`.
    public func follow(_ signal: WakeSignal) -> Following {
        let (id, started) = state.withLock { state -> (UInt64, PostgresListener?) in
            defer { state.nextID &+= 1 }
            state.followers[state.nextID] = signal
            guard state.listener == nil, !state.closed else { return (state.nextID, nil) }
            let listener = PostgresListener(url: url, channels: [Self.channel], settings: settings, logger: logger)
            state.listener = listener
            return (state.nextID, listener)
        }
        if let started {
            started.start()
            Task.detached { [self] in
                for await _ in started.events {
                    for follower in state.withLock({ Array($0.followers.values) }) { follower.ring() }
                }
            }
        }
        return Following(id: id, changes: self)
    }

    fileprivate func unfollow(_ id: UInt64) {
        state.withLock { _ = $0.followers.removeValue(forKey: id) }
    }

    /// Followers now.
    public var followers: Int { state.withLock { $0.followers.count } }

    /// Closes the listening connection (within one poll interval).
    func close() {
        let listener = state.withLock { state in
            state.closed = true
            defer { state.listener = nil }
            return state.listener
        }
        listener?.stop()
    }
}

/// A follower's registration with `StoreChanges`; ends with `cancel()` or when released.
public final class Following: Sendable {
    private let id: UInt64
    private let changes: StoreChanges

    fileprivate init(id: UInt64, changes: StoreChanges) {
        self.id = id
        self.changes = changes
    }

    public func cancel() { changes.unfollow(id) }

    deinit { changes.unfollow(id) }
}
