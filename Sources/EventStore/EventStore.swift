import Foundation
public import Logging
public import Postgres

/// The append-only event store in PostgreSQL (`ledger.events`).
///
/// - Appends go through group commit: concurrent appends share one statement and one commit,
///   and each caller is answered after that commit.
/// - Reads of one stream come in version order; reads of everything come in the gap-safe
///   global order `(transaction_id, global_position)`, only below the horizon of transactions
///   that have all ended, so a reader's checkpoint never skips an event that commits late.
///
/// ```swift
/// let store = try await EventStore.open(configuration: .init(url: url))
/// let result = try await store.append(
///     to: "session-3fe7378a-238f-4cf3-bca6-de657881f8c2", expected: .noStream,
///     events: [NewEvent(type: "ChargingStarted", data: #"{"evse_id":"DE*A36*E0001*1"}"#)]
/// )
/// ```
public final class EventStore: Sendable {
    /// Store settings.
    ///
    /// | key | type | default |
    /// | --- | --- | --- |
    /// | `url` | PostgreSQL URL or conninfo | — |
    /// | `poolSize` | connections for reads and bulk appends | 8 |
    /// | `commitLanes` | dedicated connections that run group commits | 2 |
    /// | `maxBatch` | appends per group commit at most | 256 |
    /// | `maxQueuedAppends` | appends waiting for a commit at most; more fail with `.overloaded` | 4096 |
    /// | `commitTimeout` | longest wait for a commit before `.commitTimedOut` (outcome unknown) | 10 s |
    /// | `settings` | every connection's statement and network timeouts | `SessionSettings()` |
    public struct Configuration: Sendable {
        public var url: String
        public var poolSize: Int
        public var commitLanes: Int
        public var maxBatch: Int
        public var maxQueuedAppends: Int
        public var commitTimeout: Duration
        public var settings: SessionSettings

        public init(
            url: String, poolSize: Int = 8, commitLanes: Int = 2, maxBatch: Int = 256, maxQueuedAppends: Int = 4096,
            commitTimeout: Duration = .seconds(10), settings: SessionSettings = SessionSettings()
        ) {
            self.url = url
            self.poolSize = poolSize
            self.commitLanes = commitLanes
            self.maxBatch = maxBatch
            self.maxQueuedAppends = maxQueuedAppends
            self.commitTimeout = commitTimeout
            self.settings = settings
        }
    }

    /// For the modules' own tables (read models, tokens, deliveries); events are read and
    /// written through the store's API only.
    package let pool: PostgresPool
    /// The database the store is in, for followers' dedicated connections.
    package let url: String
    /// Change notifications, one LISTEN connection per store (and so per process).
    public let changes: StoreChanges
    private let committer: GroupCommitter
    private let logger: Logger

    private init(configuration: Configuration, logger: Logger) {
        self.pool = PostgresPool(
            configuration: .init(url: configuration.url, maxConnections: configuration.poolSize, settings: configuration.settings), logger: logger
        )
        self.committer = GroupCommitter(
            url: configuration.url, lanes: configuration.commitLanes, maxBatch: configuration.maxBatch, maxQueued: configuration.maxQueuedAppends,
            commitTimeout: configuration.commitTimeout, settings: configuration.settings, logger: logger
        )
        self.url = configuration.url
        self.changes = StoreChanges(url: configuration.url, settings: configuration.settings, logger: logger)
        self.logger = logger
    }

    /// Opens the store, realigning the transaction clock if the database was restored from a
    /// cluster that had handed out higher transaction ids (see db/0006).
    public static func open(configuration: Configuration, logger: Logger = Logger(label: "eventstore")) async throws -> EventStore {
        let store = EventStore(configuration: configuration, logger: logger)
        if let offset = try await store.realignTransactionClock() {
            logger.warning("transaction clock realigned after a restore", metadata: ["offset": "\(offset)"])
        }
        return store
    }

    /// Stops taking appends and closes idle connections.
    public func close() {
        changes.close()
        committer.close()
        pool.close()
    }

    // MARK: - Appending

    /// Appends `events` to `stream`, all or nothing, through group commit.
    ///
    /// - Returns: `.appended` once the commit returned; `.alreadyAppended` with the original
    ///   positions when every event id was stored before (nothing is stored again; after a
    ///   connection lost mid-commit this may be the lost commit's own events, or another
    ///   append's with the same ids: the caller decides by content);
    ///   `.conflict` when `expected` did not hold.
    /// - Throws: `EventStoreError` `.eventIDReused` when only some ids exist; `PostgresError`
    ///   when the database failed (`isRetryable` says whether trying again can help, and it is
    ///   safe to: event ids make appends idempotent).
    public func append(to stream: String, expected: ExpectedVersion = .any, events: [NewEvent]) async throws -> AppendResult {
        guard !events.isEmpty else {
            throw EventStoreError(code: .invalidRequest, message: "an append needs at least one event")
        }
        return try await committer.submit(AppendRequest(stream: stream, expected: expected, events: events))
    }

    /// Appends many requests in one statement on a pooled connection, bypassing group commit:
    /// for bulk loads, which make their own batches. Results come in request order; one
    /// request's conflict or failure does not fail the others.
    public func appendBatch(_ requests: [AppendRequest]) async throws -> [Result<AppendResult, any Error>] {
        guard !requests.isEmpty else { return [] }
        return try await pool.run { session in BatchAppender.append(requests, on: session) }
    }

    /// Appends in the caller's transaction on `session`, for a writer that commits events together
    /// with rows of its own (the forwarder: attempt outcomes and delivery states). One statement;
    /// unlike `appendBatch` there is no per-request isolation: a failure fails the statement, and
    /// with it the caller's transaction, to be retried whole (event ids make that safe).
    public static func append(_ requests: [AppendRequest], on session: PostgresSession) throws -> [AppendResult] {
        guard !requests.isEmpty else { return [] }
        return try BatchAppender.run(requests, on: session)
    }

    /// Appends waiting for a commit lane now (at most `maxQueuedAppends`).
    public var queuedAppends: Int { committer.queued }

    /// Group commits run so far and the appends they carried.
    public var groupCommitStatistics: GroupCommitStatistics { committer.batchStatistics }

    // MARK: - Reading

    /// Events of one stream from `fromVersion` on, in version order.
    public func readStream(_ stream: String, fromVersion: Int = 1, limit: Int = 10_000) async throws -> [RecordedEvent] {
        let query: PostgresQuery = """
            SELECT \(unsafeRaw: Self.eventColumns)
              FROM ledger.events
             WHERE stream_id = \(stream) AND stream_version >= \(fromVersion)
             ORDER BY stream_version
             LIMIT \(limit)
            """
        return try await pool.run { session in try Self.decodeEvents(session.query(query)) }
    }

    /// Up to `limit` events after `cursor` in the gap-safe global order.
    ///
    /// Only events whose transaction is below `ledger.read_horizon()` come back: every
    /// transaction below it has ended, so no event can still appear before the returned ones
    /// later. A transaction that stays open holds readers back at its id; see
    /// `oldestOpenTransactionAge()`.
    public func readAll(after cursor: ReadCursor, limit: Int = 1000) async throws -> ReadAllPage {
        let query = Self.readAllQuery(after: cursor, limit: limit)
        let events = try await pool.run { session in try Self.decodeEvents(session.query(query)) }
        return ReadAllPage(events: events, next: events.last?.cursor ?? cursor)
    }

    /// Reads the global order from `cursor` to the horizon, page by page, handing each page to
    /// `body`, and returns the cursor after the last event.
    ///
    /// The next page is fetched (on another pooled connection) while the current one is decoded
    /// and handled: its cursor is the last row's, known before the rest is decoded. Gap-safe
    /// like `readAll`. For rebuilds and catch-up reads.
    @discardableResult
    public func replay(
        after cursor: ReadCursor, pageSize: Int = 10_000, omittingData omitting: [String] = [], _ body: ([RecordedEvent]) async throws -> Void
    ) async throws -> ReadCursor {
        var next: Task<PostgresResult, any Error>? = fetchPage(after: cursor, limit: pageSize, omitting: omitting)
        var position = cursor
        while let fetching = next {
            let page = try await fetching.value
            guard page.rowCount > 0 else { break }
            let last = page.rowCount - 1
            position = ReadCursor(
                transactionID: try page.decode(UInt64.self, row: last, column: 7), position: try page.decode(Int64.self, row: last, column: 0)
            )
            next = page.rowCount == pageSize ? fetchPage(after: position, limit: pageSize, omitting: omitting) : nil
            try await body(try Self.decodeEvents(page))
        }
        return position
    }

    private func fetchPage(after cursor: ReadCursor, limit: Int, omitting: [String]) -> Task<PostgresResult, any Error> {
        let query = Self.readAllQuery(after: cursor, limit: limit, omitting: omitting)
        return Task { try await pool.run { try $0.query(query) } }
    }

    /// Up to `limit` events after `cursor` in the gap-safe order, on the caller's connection (a
    /// subscription's, which commits its writes with its checkpoint).
    package static func readAll(after cursor: ReadCursor, limit: Int, omitting: [String] = [], on session: PostgresSession) throws -> [RecordedEvent] {
        try decodeEvents(session.prepared(readAllQuery(after: cursor, limit: limit, omitting: omitting)))
    }

    /// Whether events are stored after `cursor`, whether or not the gap-safe order can read them
    /// yet: those above the read horizon wait behind an open transaction.
    package static func hasEvents(after cursor: ReadCursor, on session: PostgresSession) throws -> Bool {
        // Not prepared: a generic plan guesses that many rows match and scans the table, which
        // is the worst case when none do. ORDER BY … LIMIT 1 walks the gap-safe index.
        try session.query(
            """
            SELECT 1 FROM ledger.events
             WHERE (transaction_id, global_position) > (\(cursor.transactionID)::xid8, \(cursor.position))
             ORDER BY transaction_id, global_position LIMIT 1
            """
        ).rowCount > 0
    }

    /// - Parameter omitting: members of `data` the reader does not need, left out by the server
    ///   (the projector skips `body`, the notification's bytes as received: half of each event).
    ///
    /// The horizon is a sub-select, so it is computed once per read: as a bare call in the
    /// condition, each partition's index scan computed it again (twice the cost of a typical
    /// projector batch's read over 31 monthly partitions).
    static func readAllQuery(after cursor: ReadCursor, limit: Int, omitting: [String] = []) -> PostgresQuery {
        """
        SELECT \(unsafeRaw: columns(omitting: omitting))
          FROM ledger.events
         WHERE (transaction_id, global_position) > (\(cursor.transactionID)::xid8, \(cursor.position))
           AND transaction_id < (SELECT ledger.read_horizon())
         ORDER BY transaction_id, global_position
         LIMIT \(limit)
        """
    }

    /// The cursor after the newest event the gap-safe order can read now (`.start` for an empty
    /// store): reading after it yields what commits from now on, and also events committed
    /// already but still above the read horizon (held back behind an open transaction
    /// anywhere on the server), never a gap.
    public func tailCursor() async throws -> ReadCursor {
        let query: PostgresQuery = """
            SELECT transaction_id, global_position FROM ledger.events
             WHERE transaction_id < (SELECT ledger.read_horizon())
             ORDER BY transaction_id DESC, global_position DESC LIMIT 1
            """
        return try await pool.run { session in
            guard let row = try session.prepared(query).rows.first else { return .start }
            return ReadCursor(transactionID: try row.decode(column: 0), position: try row.decode(column: 1))
        }
    }

    /// The newest stored position, or nil for an empty store.
    public func headPosition() async throws -> Int64? {
        try await pool.run { try $0.query("SELECT max(global_position) FROM ledger.events").decode(Int64?.self, row: 0, column: 0) }
    }

    /// How long the oldest transaction that holds an xid has been open, or nil if none is.
    ///
    /// Gap-safe readers stop below the oldest such transaction anywhere in the cluster, so this
    /// is the figure to watch when readers lag. (It needs `pg_read_all_stats` to see other
    /// roles' sessions.)
    public func oldestOpenTransactionAge() async throws -> Duration? {
        let seconds = try await pool.run { session in
            try session.query(
                """
                SELECT extract(epoch FROM now() - min(started))::float8 FROM (
                    SELECT xact_start AS started FROM pg_stat_activity WHERE backend_xid IS NOT NULL
                    UNION ALL
                    SELECT prepared FROM pg_prepared_xacts
                ) open
                """
            ).decode(Double?.self, row: 0, column: 0)
        }
        return seconds.map { .milliseconds(Int64(max(0, $0) * 1000)) }
    }

    /// Moves the transaction clock past the stored events if a restore left it behind.
    /// - Returns: the new offset, or nil when nothing needed to change.
    @discardableResult
    public func realignTransactionClock() async throws -> Int64? {
        try await pool.run { try $0.query("SELECT ledger.realign_transaction_clock()").decode(Int64?.self, row: 0, column: 0) }
    }

    /// The columns every event read selects, in the order `decodeEvents` expects.
    static let eventColumns = columns(omitting: [])

    /// `eventColumns`, with `data` less the named members (names the store's callers chose, not
    /// input: they are pasted as a literal).
    static func columns(omitting: [String]) -> String {
        precondition(omitting.allSatisfy { $0.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || $0 == "_" } }, "data member names are a-z and _")
        let data =
            omitting.isEmpty
            ? "data::text"
            : "(data - '{" + omitting.map { "\"" + $0 + "\"" }.joined(separator: ",") + "}'::text[])::text"
        return "global_position, stream_id, stream_version, event_id, event_type, \(data), metadata::text, transaction_id, recorded_at"
    }

    static func decodeEvents(_ result: PostgresResult) throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        events.reserveCapacity(result.rowCount)
        for row in result.rows {
            events.append(
                RecordedEvent(
                    globalPosition: try row.decode(column: 0),
                    streamID: try row.decode(column: 1),
                    streamVersion: try row.decode(column: 2),
                    eventID: try row.decode(column: 3),
                    eventType: try row.decode(column: 4),
                    data: try row.decode(column: 5),
                    metadata: try row.decode(column: 6),
                    transactionID: try row.decode(column: 7),
                    recordedAt: try row.decode(column: 8)
                )
            )
        }
        return events
    }
}
