public import EventStore
import Foundation
import Ledger
public import Logging
import OICP
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
///    away and the build schema into its place, points the analysts' views (`analytics`) at the
///    new tables, and commits. Readers see the old model until
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
        /// Events replayed (those that arrived meanwhile are applied by the catch-up, uncounted).
        public var events: Int
        public var sessions: Int
        public var evses: Int
        /// Session states written out of memory during the replay and read back later.
        public var statesReloaded: Int
        public var replay: Duration
        public var total: Duration
    }

    private let store: EventStore
    private let url: String
    private let logger: Logger
    public var pageSize = 10_000
    /// Session states the replay keeps in memory at most (with their bookkeeping about 2.5 KB
    /// each: a rebuild peaks near 600 MB); beyond it, the least recently touched are written to
    /// the build table and read back if needed.
    public var maxResidentSessions = 250_000
    /// Whether the statistics rollups are filled. Only a benchmark turns it off, to measure what
    /// they add to a rebuild; the rollups of a rebuild without them stay empty.
    public var fillsStatistics = true

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
        let connection = try await lockAndCreateBuildSchemas(projections)
        let head = try await store.headPosition()
        let replayStarted = clock.now
        let (fold, last) = try await replay(into: projections, on: connection) { events, position in
            progress(Progress(phase: "replay", events: events, elapsed: clock.now - replayStarted, headPosition: head, lastPosition: position))
        }
        let replayed = clock.now - replayStarted
        try await finish(projections, fold: fold, at: last, on: connection)
        progress(Progress(phase: "indexed", events: fold.events, elapsed: clock.now - started, headPosition: head, lastPosition: last.position))
        for projection in projections {
            try await catchUp(projection, swap: swap, on: connection)
            if swap {
                progress(Progress(phase: "swapped \(projection.name)", events: fold.events, elapsed: clock.now - started, headPosition: head, lastPosition: last.position))
            }
        }
        try await connection.run { session in try Subscription.unlockAll(on: session) }
        return Report(
            projections: projections.map(\.name), events: fold.events, sessions: fold.sessions.count + fold.spilledSessions,
            evses: fold.evses.count, statesReloaded: fold.reloadedSessions, replay: replayed, total: clock.now - started
        )
    }

    /// Step 1: takes each projection's rebuild lock (a second rebuild of the same projection is
    /// refused) and creates its empty build schema, on the connection the rebuild writes through.
    private func lockAndCreateBuildSchemas(_ projections: [TimelineProjection]) async throws -> PostgresConnection {
        let connection = try await PostgresConnection.connect(url, applicationName: "error-ledger rebuild", logger: logger)
        try await connection.run { session in
            // The copy is thrown away if the rebuild fails, so its commits need not wait for the
            // WAL flush; the swap commits after every row is written.
            try session.execute(unsafeSQL: "SET synchronous_commit = off; SET maintenance_work_mem = '256MB'")
            for projection in projections {
                guard try Subscription.tryLock(projection.rebuildLockName, on: session) else {
                    throw PostgresError(code: .server, message: "a rebuild of \(projection.name) is already running")
                }
                try Self.createBuildSchema(for: projection, on: session)
            }
            // A month half-way out of the store (db/0020) would be counted twice: by its events
            // still there and by the retired aggregates its pruned sessions were added to.
            let halfWay = try session.query(
                "SELECT string_agg(to_char(stream_month, 'YYYY-MM'), ', ') FROM ledger.retention_cuts WHERE state <> 'dropped'"
            ).decode(String?.self, row: 0, column: 0)
            if let halfWay {
                throw PostgresError(
                    code: .server, message: "retention is half-way through \(halfWay): finish it with `error-ledger retention apply`, then rebuild"
                )
            }
        }
        return connection
    }

    /// Step 2: replays the whole store once (gap-safe, page by page) through the fold into the
    /// build tables; returns the fold's final state and the cursor it stopped at.
    ///
    /// Three stages overlap: the store fetches page N+2 while page N+1 is folded (on the fold's
    /// own thread) and page N's rows are copied (on the connection's thread).
    private func replay(
        into projections: [TimelineProjection], on connection: PostgresConnection, progress: (Int, Int64) -> Void
    ) async throws -> (BulkFold, ReadCursor) {
        let fold = BulkFoldBox(maxResidentSessions: maxResidentSessions)
        let folder = FoldThread()
        var copying: Task<Void, any Error>?
        let last = try await store.replay(after: .start, pageSize: pageSize, omittingData: [RecordedNotification.Key.body]) { page in
            let prepared = page.map { PreparedEvent(FoldEvent($0)) }
            // Sessions folded out of memory earlier come back from the build table (and leave it
            // until they are written again). The copy in flight may be writing them: wait for it.
            let missing = fold.state.withLock { $0.notResident(prepared) }
            var reloaded: [String: SessionState] = [:]
            if !missing.isEmpty {
                try await copying?.value
                copying = nil
                reloaded = try await connection.run { session in try BulkFold.reload(missing, from: projections, on: session) }
            }
            let back = reloaded
            let (changes, spilled) = try await folder.run { fold.state.withLock { $0.fold(prepared, reloaded: back) } }
            try await copying?.value
            copying = Task { [connection] in
                try await connection.run { session in try BulkFold.copy(changes, spilled: spilled, to: projections, on: session) }
            }
            let (events, position) = fold.state.withLock { ($0.events, $0.lastPosition) }
            progress(events, position)
        }
        try await copying?.value
        return (fold.state.withLock { $0 }, last)
    }

    /// Step 3: writes each projection's states, builds its indexes and statistics (each on a
    /// connection of its own, at once), then vacuums and analyzes the build tables.
    private func finish(_ projections: [TimelineProjection], fold: BulkFold, at last: ReadCursor, on connection: PostgresConnection) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, projection) in projections.enumerated() {
                group.addTask { [url, logger, fillsStatistics] in
                    let own =
                        index == 0
                        ? connection : try await PostgresConnection.connect(url, applicationName: "error-ledger rebuild", logger: logger)
                    try await own.run { session in
                        try session.execute(unsafeSQL: "SET synchronous_commit = off; SET maintenance_work_mem = '256MB'")
                        try fold.finish([projection], at: last, fillingStatistics: fillsStatistics, on: session)
                    }
                }
            }
            try await group.waitForAll()
        }
        // VACUUM sets the visibility map, which index-only scans need, and ANALYZE gives the
        // planner their statistics before the first reader arrives. After every copy has
        // committed: a transaction still open would keep pages from being marked.
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
    }

    /// Steps 4 and 5: brings the build schema up to the store's head through the projector's
    /// own subscription step (batch by batch), and with `swap` puts it in the live schema's place: in one
    /// transaction, it locks the live checkpoint table (the live projector finishes its batch and
    /// waits), applies the last events, and renames the live schema away and the build schema
    /// in. The live projector's next batch finds its checkpoint moved and goes on from the new one.
    private func catchUp(_ projection: TimelineProjection, swap: Bool, on connection: PostgresConnection) async throws {
        let subscription = Subscription(
            name: projection.rebuildLockName, checkpoints: [projection.buildSchema + ".checkpoint"], batchSize: pageSize,
            omittingData: [RecordedNotification.Key.body]
        )
        let writer = ProjectionBatch(targets: [(projection, projection.buildSchema)])
        let write: @Sendable (Subscription.Batch, PostgresSession, inout Subscription.BatchStatement) throws -> Void = { batch, session, statement in
            try writer.write(batch, on: session, into: &statement)
        }
        try await connection.run { session in
            var known: [ReadCursor]?
            while case .applied = try subscription.step(on: session, known: &known, statement: write) {}
        }
        guard swap else { return }
        try await connection.run { session in
            try session.transaction {
                try session.execute(unsafeSQL: "SET LOCAL lock_timeout = '60s'")
                try session.execute(unsafeSQL: "LOCK TABLE \(projection.checkpoint) IN ACCESS EXCLUSIVE MODE")
                var known: [ReadCursor]?
                while case .applied = try subscription.step(on: session, known: &known, inTransaction: true, statement: write) {}
                try session.execute(unsafeSQL: "ALTER SCHEMA \(projection.schema) RENAME TO \(projection.retiredSchema)")
                try session.execute(unsafeSQL: "ALTER SCHEMA \(projection.buildSchema) RENAME TO \(projection.schema)")
                // The analysts' views follow the tables they were made on (now retired): point them
                // at the new ones, in the same transaction, before the retired schema is dropped.
                try session.execute(unsafeSQL: "SELECT analytics.create_views()")
            }
            try session.execute(unsafeSQL: "DROP SCHEMA \(projection.retiredSchema) CASCADE")
        }
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
        let existing = Set(
            try session.query("SELECT indexname FROM pg_indexes WHERE schemaname = \(build)").rows.map { try $0.decode(String.self, column: 0) }
        )
        for row in constraints.rows {
            let (table, name, definition): (String, String, String) = (try row.decode(column: 0), try row.decode(column: 1), try row.decode(column: 2))
            guard !existing.contains(name) else { continue }
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
