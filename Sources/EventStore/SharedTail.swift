import Foundation
import Synchronization

/// A subscription without a checkpoint, for many readers at the head of the store at once (the
/// live feed's clients): each new batch is read from the database once, kept for a while, and
/// handed to every reader that asks for what follows its cursor.
///
/// A reader passes the cursor it has seen (a client's `Last-Event-ID`) and gets the events after
/// it in the gap-safe order, as `readAll` would give them:
/// - inside the kept window, from memory;
/// - at the newest kept event, from one shared read of the store (the first reader to ask
///   reads; the others wait for that read);
/// - further back than the window, from a read of its own (a reconnect after a long absence),
///   page by page until it reaches the window.
///
/// The kept events are contiguous in the gap-safe order from `windowStart`, so a reader anywhere
/// in the window gets neither a gap nor a duplicate. Wake-ups come from `changes`: rung by
/// `StoreChanges` when appends commit.
public final class SharedTail: Sendable {
    private struct State {
        /// The cursor before `kept[0]`; nil until the first read.
        var windowStart: ReadCursor?
        var kept: [RecordedEvent] = []
        /// The shared read in progress, if any.
        var reading: Task<Void, any Error>?
        var sharedReads = 0
        var ownReads = 0
    }

    private let store: EventStore
    /// Events per read, and per answer at most.
    public let pageSize: Int
    /// Events kept in memory at most.
    public let keep: Int
    /// Rings when the store may have new events.
    public let changes = WakeSignal()
    private let following: Following
    private let state = Mutex(State())

    public init(store: EventStore, pageSize: Int = 1000, keep: Int = 4000) {
        self.store = store
        self.pageSize = pageSize
        self.keep = max(keep, pageSize)
        self.following = store.changes.follow(changes)
    }

    /// Reads of the store so far: shared (one for every reader at the head) and readers' own.
    public var reads: (shared: Int, own: Int) { state.withLock { ($0.sharedReads, $0.ownReads) } }

    /// Up to `pageSize` events after `cursor` in the gap-safe order, and whether the page is full
    /// (more may follow at once).
    public func events(after cursor: ReadCursor) async throws -> (events: [RecordedEvent], full: Bool) {
        while true {
            enum Next { case kept([RecordedEvent]), readShared(Task<Void, any Error>), readOwn }
            let next = state.withLock { state -> Next in
                guard let start = state.windowStart, cursor >= start, cursor <= (state.kept.last?.cursor ?? start) else {
                    // Ahead of the window (a cursor newer than anything read here): the window
                    // starts over there; behind it: the reader reads on its own.
                    if state.windowStart == nil || cursor > (state.kept.last?.cursor ?? state.windowStart!) {
                        if state.reading == nil {
                            state.windowStart = cursor
                            state.kept = []
                        } else {
                            return .readOwn
                        }
                    } else {
                        return .readOwn
                    }
                    return .readShared(startRead(&state))
                }
                let index = state.kept.firstIndex { $0.cursor > cursor } ?? state.kept.endIndex
                if index < state.kept.endIndex {
                    return .kept(Array(state.kept[index..<min(state.kept.endIndex, index + pageSize)]))
                }
                return .readShared(state.reading ?? startRead(&state))
            }
            switch next {
            case .kept(let events):
                return (events, events.count == pageSize)
            case .readOwn:
                state.withLock { $0.ownReads += 1 }
                let page = try await store.readAll(after: cursor, limit: pageSize)
                return (page.events, page.events.count == pageSize)
            case .readShared(let reading):
                try await reading.value
                // Nothing new: the reader is at the head.
                let atHead = state.withLock { state in
                    guard let start = state.windowStart else { return false }
                    return cursor >= (state.kept.last?.cursor ?? start)
                }
                if atHead { return ([], false) }
            }
        }
    }

    /// Starts the shared read of what follows the window; the caller holds the state's lock.
    private func startRead(_ state: inout State) -> Task<Void, any Error> {
        let after = state.kept.last?.cursor ?? state.windowStart ?? .start
        state.sharedReads += 1
        let task = Task { [self, pageSize, keep] in
            defer { self.state.withLock { $0.reading = nil } }
            let page = try await store.readAll(after: after, limit: pageSize)
            self.state.withLock { state in
                // The window may have started over meanwhile; only a read of its end extends it.
                guard (state.kept.last?.cursor ?? state.windowStart) == after else { return }
                state.kept += page.events
                if state.kept.count > keep {
                    let dropped = state.kept.count - keep
                    state.windowStart = state.kept[dropped - 1].cursor
                    state.kept.removeFirst(dropped)
                }
            }
        }
        state.reading = task
        return task
    }

    deinit { following.cancel() }
}
