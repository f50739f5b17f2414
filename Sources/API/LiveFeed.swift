import EventStore
import Foundation
import JSON
import Ledger
import OICP
import Synchronization

/// The live error feed behind `GET /v1/errors/stream`: Server-Sent Events read from the event
/// store in its gap-safe order, through one `SharedTail` for every client.
///
/// Each event's `id` is the store cursor (`<transaction>-<position>`) of the error it carries.
/// A client that reconnects with `Last-Event-ID` resumes right after it: the gap-safe order
/// never puts a later-committed event before a cursor already handed out, so there is no gap
/// and no duplicate. Without `Last-Event-ID` the feed starts at the store's current tail.
///
/// Clients at the head share each read of the store (one read per new batch, whatever the
/// number of clients); a client resuming from further back reads on its own until it catches
/// up. A stream wakes on the store's NOTIFY (the process's one listener), polls every second in
/// case a notification was missed, and sends a comment line as a heartbeat after `heartbeat`
/// of silence so that proxies keep the connection open.
final class LiveFeed: Sendable {
    /// What a subscriber sees.
    struct Filter: Sendable {
        /// nil: every operator (a token without operator limits). An error is seen when its
        /// OperatorID and its EVSE's operator are both among them, compared as OICP compares.
        var operatorIDs: [String]?
        /// Empty: both error types.
        var errorTypes: [String]

        /// Whether the subscriber sees `error`.
        func admits(_ error: Item, operators: OperatorIdentity.Set?) -> Bool {
            if let operators, !(operators.contains(operatorID: error.operatorID) && operators.contains(evseOf: error.evseID)) { return false }
            return errorTypes.isEmpty || error.errorType.map(errorTypes.contains) == true
        }
    }

    /// How many feeds, and how much of the pool they may use.
    ///
    /// | key | default |
    /// | --- | --- |
    /// | `maxStreams` | 1,000 open feeds in all (more: 503) |
    /// | `maxStreamsPerToken` | 16 open feeds per token (more: 429) |
    /// | `concurrentReads` | feeds reading the store at once (a quarter of the pool, at least 1) |
    struct Limits: Sendable {
        var maxStreams = 1000
        var maxStreamsPerToken = 16
        var concurrentReads = 4
    }

    let store: EventStore
    let tail: SharedTail
    let heartbeat: Duration
    /// Events scanned per read.
    var pageSize: Int { tail.pageSize }
    let limits: Limits
    private let stopping = Mutex(false)
    private let subscribers = Mutex<(total: Int, byToken: [UUID: Int])>((0, [:]))
    private let reads: AsyncGate
    /// Error events as every feed shows them, by position: feeds at the head read the same
    /// events, so each is parsed and rendered once, not once per feed. Bounded: when full it
    /// starts over (a miss costs one parse).
    private let rendered = Mutex<[Int64: Item?]>([:])

    /// An error event, parsed and rendered as an SSE event.
    struct Item: Sendable {
        let operatorID: String
        let evseID: String
        let errorType: String?
        let sse: String
    }

    init(store: EventStore, heartbeat: Duration, pageSize: Int = 1000, limits: Limits? = nil) {
        self.store = store
        self.tail = SharedTail(store: store, pageSize: pageSize)
        self.heartbeat = heartbeat
        var chosen = limits ?? Limits()
        if limits == nil { chosen.concurrentReads = max(1, store.pool.configuration.maxConnections / 4) }
        self.limits = chosen
        self.reads = AsyncGate(width: chosen.concurrentReads)
    }

    var subscriberCount: Int { subscribers.withLock { $0.total } }

    /// Ends every stream (at server shutdown); new ones end at once.
    func stop() {
        stopping.withLock { $0 = true }
        tail.changes.ring()
    }

    private var isStopping: Bool { stopping.withLock { $0 } }

    /// The SSE text of the matching errors among the next `pageSize` events after `cursor`, the
    /// cursor after the last event scanned, and whether the page was full (more may follow).
    func read(after cursor: ReadCursor, filter: Filter) async throws -> (text: String, next: ReadCursor, full: Bool) {
        let page = try await reads.run { try await tail.events(after: cursor) }
        let operators = filter.operatorIDs.map(OperatorIdentity.Set.init)
        var text = ""
        for event in page.events where event.eventType == LedgerEventType.chargingErrorReported.rawValue {
            guard let shown = item(event), filter.admits(shown, operators: operators) else { continue }
            text += shown.sse
        }
        return (text, page.events.last?.cursor ?? cursor, page.full)
    }

    /// The SSE event name of an error. Not `error`: a browser's `EventSource` fires an event of
    /// that name itself when the connection fails, so a page could not tell the two apart (and
    /// `onmessage` sees only unnamed events).
    static let eventName = "charging_error"

    /// `event` as every feed shows it (nil when its data is not an error's), parsed once.
    private func item(_ event: RecordedEvent) -> Item? {
        if let cached = rendered.withLock({ $0[event.globalPosition] }) { return cached }
        var item: Item?
        if let error = RecordedNotification(type: event.eventType, streamID: event.streamID, data: event.data) {
            let json = JSONValue.object(
                JSONObject([
                    ("position", .number(String(event.globalPosition))),
                    ("event_id", .string(event.eventID.lowercasedString)),
                    ("received_at", .string(error.receivedAt.text)),
                    ("session_id", .string(error.sessionID)),
                    ("evse_id", .string(error.evseID)),
                    ("operator_id", .string(error.operatorID)),
                    ("error_type", error.errorType.map(JSONValue.string) ?? .null),
                    ("error_additional_info", error.notification["ErrorAdditionalInfo"]?.stringValue.map(JSONValue.string) ?? .null),
                ])
            ).serialized()
            item = Item(
                operatorID: error.operatorID, evseID: error.evseID, errorType: error.errorType,
                sse: "id: \(event.cursor)\nevent: \(Self.eventName)\ndata: \(json)\n\n"
            )
        }
        rendered.withLock { cache in
            if cache.count >= 8192 { cache.removeAll(keepingCapacity: true) }
            cache[event.globalPosition] = .some(item)
        }
        return item
    }

    /// The SSE body for a subscriber starting after `cursor`. Pull-based: it reads the store only
    /// when the server has written what it produced before.
    ///
    /// - Throws: `APIProblem` 429 when `token` has `maxStreamsPerToken` feeds open, 503 when
    ///   `maxStreams` are open in all.
    func stream(after cursor: ReadCursor, filter: Filter, token: UUID) throws(APIProblem) -> AsyncThrowingStream<[UInt8], any Error> {
        let limits = limits
        let refusal = subscribers.withLock { count -> APIProblem? in
            if count.total >= limits.maxStreams {
                return APIProblem.unavailable("\(limits.maxStreams) live feeds are open on this instance; try again later")
            }
            if count.byToken[token, default: 0] >= limits.maxStreamsPerToken {
                return APIProblem(
                    status: 429, code: "too_many_requests", message: "this token has \(limits.maxStreamsPerToken) live feeds open; close one first",
                    headers: [("Retry-After", "5")]
                )
            }
            count.total += 1
            count.byToken[token, default: 0] += 1
            return nil
        }
        if let refusal { throw refusal }
        let state = Subscription(cursor: cursor, lastSent: .now) { [self] in
            subscribers.withLock { count in
                count.total -= 1
                count.byToken[token, default: 1] -= 1
                if count.byToken[token] == 0 { count.byToken[token] = nil }
            }
        }
        return AsyncThrowingStream(unfolding: { [self] in try await next(state, filter: filter) })
    }

    /// A subscriber's position; touched by one pull at a time. It lives as long as its stream,
    /// so its end (finished, or dropped with its client) is counted in `deinit`.
    private final class Subscription: Sendable {
        struct Position {
            var cursor: ReadCursor
            var lastSent: ContinuousClock.Instant
            var greeted = false
        }

        let position: Mutex<Position>
        private let ended: @Sendable () -> Void

        init(cursor: ReadCursor, lastSent: ContinuousClock.Instant, ended: @escaping @Sendable () -> Void) {
            position = Mutex(Position(cursor: cursor, lastSent: lastSent))
            self.ended = ended
        }

        deinit { ended() }
    }

    private func next(_ subscription: Subscription, filter: Filter) async throws -> [UInt8]? {
        let greeted = subscription.position.withLock { position in
            defer { position.greeted = true }
            return position.greeted
        }
        if !greeted {
            // How long a browser's EventSource waits before it reconnects.
            return Array("retry: 2000\n\n".utf8)
        }
        while !Task.isCancelled && !isStopping {
            let seen = tail.changes.generation
            let cursor = subscription.position.withLock { $0.cursor }
            let page: (text: String, next: ReadCursor, full: Bool)
            do {
                page = try await read(after: cursor, filter: filter)
            } catch {
                // The store failed (a restart, a cut link). Reads at the head are shared, so one
                // failure reaches every feed: rather than end them all at once (and have every
                // client reconnect together), each stays open, keeps its heartbeats, and reads
                // again within a second.
                page = ("", cursor, false)
            }
            subscription.position.withLock { $0.cursor = page.next }
            if !page.text.isEmpty {
                subscription.position.withLock { $0.lastSent = .now }
                return Array(page.text.utf8)
            }
            // A resume from far back scans page after page: let other work run in between.
            if page.full {
                await Task.yield()
                continue
            }
            let silent = ContinuousClock.now - subscription.position.withLock { $0.lastSent }
            if silent >= heartbeat {
                subscription.position.withLock { $0.lastSent = .now }
                return Array(": heartbeat\n\n".utf8)
            }
            await tail.changes.wait(after: seen, timeout: min(.seconds(1), heartbeat - silent))
        }
        return nil
    }
}
