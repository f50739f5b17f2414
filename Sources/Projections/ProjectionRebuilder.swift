public import EventStore
import Foundation
import Ledger
public import Logging
import Postgres
import Synchronization

/// Rebuilds projections from the whole store and swaps them in atomically.
///
/// 1. Takes the projection's rebuild lock (a second rebuild of the same projection is refused).
/// 2. Creates `<schema>_build` as a copy of the live schema's tables (`LIKE … INCLUDING ALL`:
///    columns, constraints, indexes), with an empty checkpoint.
/// 3. Replays the store once (gap-safe, page by page) through the fold, keeping every session
///    and EVSE state in memory and copying rows into the build tables; then writes the states.
///    Several projections rebuilt together share the one replay.
/// 4. Catches up with events that arrived meanwhile, batch by batch.
/// 5. Swaps, in one transaction per projection: locks the live checkpoint table (the live
///    projector finishes its batch and waits), applies the last events, renames the live schema
///    away and the build schema into its place, and commits. Readers see the old model until
///    the commit and the new one after; the live projector continues from the new checkpoint.
/// 6. Drops the old schema.
public struct ProjectionRebuilder: Sendable {
    public struct Progress: Sendable {
        public var phase: String
        public var events: Int
        public var elapsed: Duration
        public var headPosition: Int64?
        public var lastPosition: Int64
    }

    public struct Report: Sendable {
        public var projections: [String]
        public var events: Int
        public var sessions: Int
        public var evses: Int
        public var replay: Duration
        public var total: Duration
    }

    private let store: EventStore
    private let url: String
    private let logger: Logger
    public var pageSize = 10_000

    public init(store: EventStore, url: String, logger: Logger = Logger(label: "rebuild")) {
        self.store = store
        self.url = url
        self.logger = logger
    }

    /// Rebuilds `projections` and swaps them in.
    /// - Parameter swap: false leaves the built copies in `<schema>_build` (for `verify`).
    public func rebuild(
        _ projections: [TimelineProjection], swap: Bool = true, progress: @escaping @Sendable (Progress) -> Void = { _ in }
    ) async throws -> Report {
        let clock = ContinuousClock()
        let started = clock.now
        let connection = try await PostgresConnection.connect(url, applicationName: "error-ledger rebuild", logger: logger)
        try await connection.run { session in
            // The copy is thrown away if the rebuild fails, so its commits need not wait for the
            // WAL flush; the swap commits after every row is written.
            try session.execute(unsafeSQL: "SET synchronous_commit = off; SET maintenance_work_mem = '256MB'")
            for projection in projections {
                let locked = try session.query(
                    "SELECT pg_try_advisory_lock(\(TimelineProjection.lockNamespace), hashtext(\(projection.rebuildLockName)))"
                ).decode(Bool.self, row: 0, column: 0)
                guard locked else {
                    throw PostgresError(code: .server, message: "a rebuild of \(projection.name) is already running")
                }
                try Self.createBuildSchema(for: projection, on: session)
            }
        }

        // Replay everything into the build tables.
        let head = try await store.headPosition()
        let fold = BulkFoldBox()
        let replayStarted = clock.now
        // Three stages overlap: the store fetches page N+2 while page N+1 is folded (on the fold's
        // own thread) and page N's rows are copied (on the connection's thread).
        let folder = FoldThread()
        var copying: Task<Void, any Error>?
        let last = try await store.replay(after: .start, pageSize: pageSize) { page in
            let changes = try await folder.run { fold.state.withLock { $0.fold(page) } }
            try await copying?.value
            copying = Task { [connection] in
                try await connection.run { session in try BulkFold.copy(changes, to: projections, on: session) }
            }
            let (events, position) = fold.state.withLock { ($0.events, $0.lastPosition) }
            progress(Progress(phase: "replay", events: events, elapsed: clock.now - replayStarted, headPosition: head, lastPosition: position))
        }
        try await copying?.value
        let replayed = clock.now - replayStarted
        // Each projection's states, indexes and statistics on a connection of its own, at once.
        let bulk = fold.state.withLock { $0 }
        let totals = (bulk.events, bulk.sessions.count, bulk.evses.count)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, projection) in projections.enumerated() {
                group.addTask { [url, logger] in
                    let own =
                        index == 0
                        ? connection : try await PostgresConnection.connect(url, applicationName: "error-ledger rebuild", logger: logger)
                    try await own.run { session in
                        try session.execute(unsafeSQL: "SET synchronous_commit = off; SET maintenance_work_mem = '256MB'")
                        try bulk.finish([projection], at: last, on: session)
                    }
                }
            }
            try await group.waitForAll()
        }
        // VACUUM sets the visibility map, which index-only scans need, and ANALYZE gives the planner their statistics before the first reader arrives. After
        // every copy has committed: a transaction still open would keep pages from being marked.
        try await connection.run { session in
            for projection in projections {
                for row in try session.query("SELECT tablename FROM pg_tables WHERE schemaname = \(projection.buildSchema)").rows {
                    let table: String = try row.decode(column: 0)
                    // Only the fleet feed reads by index-only scans; the rest needs statistics only.
                    let command = table == "evse_errors" ? "VACUUM (ANALYZE)" : "ANALYZE"
                    try session.execute(unsafeSQL: "\(command) \(projection.buildSchema).\(table)")
                }
            }
        }
        progress(Progress(phase: "indexed", events: totals.0, elapsed: clock.now - started, headPosition: head, lastPosition: last.position))

        // Catch up with what arrived during the replay, then swap.
        for projection in projections {
            let limit = pageSize
            try await connection.run { session in
                while case .applied = try ProjectionBatch.applyNext(projection, schema: projection.buildSchema, limit: limit, on: session) {}
            }
            guard swap else { continue }
            try await connection.run { session in
                try session.transaction {
                    try session.execute(unsafeSQL: "SET LOCAL lock_timeout = '60s'")
                    try session.execute(unsafeSQL: "LOCK TABLE \(projection.schema).checkpoint IN ACCESS EXCLUSIVE MODE")
                    while case .applied = try ProjectionBatch.applyNext(
                        projection, schema: projection.buildSchema, limit: limit, on: session, inTransaction: true
                    ) {}
                    try session.execute(unsafeSQL: "ALTER SCHEMA \(projection.schema) RENAME TO \(projection.retiredSchema)")
                    try session.execute(unsafeSQL: "ALTER SCHEMA \(projection.buildSchema) RENAME TO \(projection.schema)")
                }
                try session.execute(unsafeSQL: "DROP SCHEMA \(projection.retiredSchema) CASCADE")
            }
            progress(Progress(phase: "swapped \(projection.name)", events: totals.0, elapsed: clock.now - started, headPosition: head, lastPosition: last.position))
        }
        try await connection.run { session in try session.execute(unsafeSQL: "SELECT pg_advisory_unlock_all()") }
        return Report(
            projections: projections.map(\.name), events: totals.0, sessions: totals.1, evses: totals.2, replay: replayed,
            total: clock.now - started
        )
    }

    /// Creates the live schema's primary keys, unique constraints and indexes on the build schema,
    /// under the same names.
    static func createIndexes(for projection: TimelineProjection, on session: PostgresSession) throws {
        let live = projection.schema, build = projection.buildSchema
        let constraints = try session.query(
            """
            SELECT c.relname, con.conname, pg_get_constraintdef(con.oid)
              FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = \(live) AND con.contype IN ('p', 'u')
            """
        )
        for row in constraints.rows {
            let (table, name, definition): (String, String, String) = (try row.decode(column: 0), try row.decode(column: 1), try row.decode(column: 2))
            try session.execute(unsafeSQL: "ALTER TABLE \(build).\(table) ADD CONSTRAINT \(name) \(definition)")
        }
        let indexes = try session.query(
            """
            SELECT pg_get_indexdef(i.indexrelid)
              FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = \(live) AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
            """
        )
        for row in indexes.rows {
            let definition: String = try row.decode(column: 0)
            try session.execute(unsafeSQL: definition.replacingOccurrences(of: " ON \(live).", with: " ON \(build)."))
        }
    }

    /// Drops a leftover build or retired schema, and creates an empty build schema shaped like
    /// the live one.
    static func createBuildSchema(for projection: TimelineProjection, on session: PostgresSession) throws {
        let build = projection.buildSchema
        try session.execute(unsafeSQL: "DROP SCHEMA IF EXISTS \(build) CASCADE")
        try session.execute(unsafeSQL: "DROP SCHEMA IF EXISTS \(projection.retiredSchema) CASCADE")
        try session.execute(unsafeSQL: "CREATE SCHEMA \(build)")
        let tables = try session.query("SELECT tablename FROM pg_tables WHERE schemaname = \(projection.schema) ORDER BY tablename")
        guard tables.rowCount > 0 else {
            throw PostgresError(code: .server, message: "schema \(projection.schema) has no tables; run `error-ledger migrate` first")
        }
        for row in tables.rows {
            let table: String = try row.decode(column: 0)
            // Indexes come after the bulk load (`createIndexes`): building them once is several
            // times cheaper than maintaining them row by row.
            try session.execute(
                unsafeSQL: "CREATE TABLE \(build).\(table) (LIKE \(projection.schema).\(table) INCLUDING ALL EXCLUDING INDEXES)"
            )
        }
        try session.query("INSERT INTO \(unsafeRaw: build).checkpoint (projection) VALUES (\(projection.name))")
        try session.execute(
            unsafeSQL: """
                GRANT USAGE ON SCHEMA \(build) TO ledger_service;
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \(build) TO ledger_service
                """
        )
    }
}

/// A thread of its own for the rebuild's fold: CPU-bound work that would otherwise hold a
/// thread of the cooperative pool for the whole replay.
private final class FoldThread: Sendable {
    private let queue = DispatchQueue(label: "rebuild.fold")

    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        await withCheckedContinuation { continuation in queue.async { continuation.resume(returning: body()) } }
    }
}

/// The fold's state, reached from the fold thread one page at a time.
private final class BulkFoldBox: Sendable {
    let state = Mutex(BulkFold())
}

/// The rebuild's in-memory fold: every state stays here until the replay ends.
private struct BulkFold {
    var sessions: [String: SessionState] = [:]
    var evses: [String: EvseSummary] = [:]
    var abruptEnds: [AbruptEnd] = []
    /// Every error, copied at the end in the order of the EVSE timeline index, so that one
    /// EVSE's errors share heap pages (the live projector appends later ones at the end).
    var errors: [ErrorEntry] = []
    var events = 0
    var lastPosition: Int64 = 0

    mutating func fold(_ page: [RecordedEvent]) -> TimelineChanges {
        let prepared = page.map { PreparedEvent(FoldEvent($0)) }
        let changes = TimelineFold.fold(prepared, sessions: &sessions, evses: &evses)
        abruptEnds += changes.abruptEnds
        errors += changes.errors
        events += page.count
        lastPosition = page.last?.globalPosition ?? lastPosition
        return changes
    }

    static func copy(_ changes: TimelineChanges, to projections: [TimelineProjection], on session: PostgresSession) throws {
        for projection in projections {
            if projection.keepsSessionTimeline {
                try TimelineRows.copy(
                    changes.timeline.lazy.map(TimelineRows.row), into: "session_events", columns: TimelineRows.sessionEventColumns,
                    schema: projection.buildSchema, on: session
                )
            }
        }
    }

    func finish(_ projections: [TimelineProjection], at cursor: ReadCursor, on session: PostgresSession) throws {
        for projection in projections {
            let schema = projection.buildSchema
            try TimelineRows.copy(
                sessions.values.lazy.map(TimelineRows.row), into: "sessions", columns: TimelineRows.sessionColumns, schema: schema,
                on: session
            )
            if projection.keepsErrorTimeline {
                try TimelineRows.copy(
                    evses.values.lazy.map(TimelineRows.row), into: "evse_summary", columns: TimelineRows.evseColumns,
                    schema: schema, on: session
                )
                let marked = Set(abruptEnds.map(\.position))
                let ordered = errors.sorted {
                    ($0.evseID, $1.receivedAt.epochMilliseconds, $1.position) < ($1.evseID, $0.receivedAt.epochMilliseconds, $0.position)
                }
                try TimelineRows.copy(
                    ordered.lazy.map { entry in
                        var entry = entry
                        if marked.contains(entry.position) { entry.phase = .abruptEnd }
                        return TimelineRows.row(entry)
                    },
                    into: "evse_errors", columns: TimelineRows.errorColumns, schema: schema, on: session
                )
            }
            try ProjectionRebuilder.createIndexes(for: projection, on: session)
            try TimelineRows.markAbruptEnds(abruptEnds, projection: projection, schema: schema, errorTimeline: false, on: session)
            try session.query(
                """
                UPDATE \(unsafeRaw: schema).checkpoint
                   SET transaction_id = \(Int64(cursor.transactionID)), position = \(cursor.position),
                       events_applied = \(events), updated_at = now()
                """
            )

        }
    }
}
