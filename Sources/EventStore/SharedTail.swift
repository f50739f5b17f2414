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
            enum Next { case kept([RecordedEvent]), readShared(Task<Void, any Error>), readOwn, initialize }
            let next = state.withLock { state -> Next in
                guard let start = state.windowStart else { return .initialize }
                let end = state.kept.last?.cursor ?? start
                // Behind the window: a resume from far back reads on its own until it catches up.
                if cursor < start { return .readOwn }
                // Ahead of it (the window lags the store, or the cursor is one no event has): the
                // reader reads on its own, and the window moves on. A client's cursor never moves
                // the window itself.
                if cursor > end {
                    if state.reading == nil { _ = startRead(&state) }
                    return .readOwn
                }
                // The first kept event after the cursor (kept events are in cursor order).
                var low = 0, high = state.kept.count
                while low < high {
                    let middle = (low + high) / 2
                    if state.kept[middle].cursor > cursor { high = middle } else { low = middle + 1 }
                }
                let index = low
                if index < state.kept.endIndex {
                    return .kept(Array(state.kept[index..<min(state.kept.endIndex, index + pageSize)]))
                }
                return .readShared(state.reading ?? startRead(&state))
            }
            switch next {
            case .kept(let events):
                return (events, events.count == pageSize)
            case .initialize:
                let tail = try await store.tailCursor()
                state.withLock { state in
                    if state.windowStart == nil { state.windowStart = tail }
                }
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
            let page: ReadAllPage
            do {
                page = try await store.readAll(after: after, limit: pageSize)
            } catch {
                self.state.withLock { $0.reading = nil }
                throw error
            }
            let extended = self.state.withLock { state -> Bool in
                // Done in the same step as the window's change: a reader that finds no read in
                // flight finds the window already extended.
                state.reading = nil
                // Only a read of the window's end extends it.
                guard (state.kept.last?.cursor ?? state.windowStart) == after, !page.events.isEmpty else { return false }
                state.kept += page.events
                if state.kept.count > keep {
                    let dropped = state.kept.count - keep
                    state.windowStart = state.kept[dropped - 1].cursor
                    state.kept.removeFirst(dropped)
                }
                return true
            }
            // Readers that joined this read after looking at the signal, and readers waiting at
            // the old end, look again.
            if extended { changes.ring() }
        }
        state.reading = task
        return task
    }

    deinit { following.cancel() }
}
