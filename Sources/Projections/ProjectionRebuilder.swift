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
        let fold = BulkFoldBox(maxResidentSessions: maxResidentSessions)
        let replayStarted = clock.now
        // Three stages overlap: the store fetches page N+2 while page N+1 is folded (on the fold's
        // own thread) and page N's rows are copied (on the connection's thread).
        let folder = FoldThread()
        var copying: Task<Void, any Error>?
        let last = try await store.replay(after: .start, pageSize: pageSize) { page in
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
            progress(Progress(phase: "replay", events: events, elapsed: clock.now - replayStarted, headPosition: head, lastPosition: position))
        }
        try await copying?.value
        let replayed = clock.now - replayStarted
        // Each projection's states, indexes and statistics on a connection of its own, at once.
        let bulk = fold.state.withLock { $0 }
        let totals = (bulk.events, bulk.sessions.count + bulk.spilledSessions, bulk.evses.count)
        let reloadedStates = bulk.reloadedSessions
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
            projections: projections.map(\.name), events: totals.0, sessions: totals.1, evses: totals.2,
            statesReloaded: reloadedStates, replay: replayed,
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
    let state: Mutex<BulkFold>

    init(maxResidentSessions: Int) { state = Mutex(BulkFold(maxResidentSessions: maxResidentSessions)) }
}

/// The rebuild's fold. Memory stays bounded, not growing with the store: when more than
/// `maxResidentSessions` session states are in memory, the least recently touched are written to
/// the build table and dropped; if an event of one turns up later, its state is read back. EVSE
/// summaries (one per EVSE) stay in memory throughout.
private struct BulkFold {
    /// See `ProjectionRebuilder.maxResidentSessions`.
    let maxResidentSessions: Int
    /// The oldest page whose touched sessions may still be in memory.
    var oldestPage = 0

    var sessions: [String: SessionState] = [:]
    var evses: [String: EvseSummary] = [:]
    var abruptEnds: [AbruptEnd] = []
    /// The page each resident session was last touched in, and the sessions touched per page.
    var lastTouched: [String: Int] = [:]
    var touchedIn: [Int: [String]] = [:]
    var page = 0
    /// Sessions written to the build table and not in memory.
    var spilledSessions = 0
    var reloadedSessions = 0
    var events = 0
    var lastPosition: Int64 = 0

    /// Which sessions were spilled, in fixed memory: a false positive costs a lookup that finds
    /// nothing, never a wrong state.
    var spilled = BloomFilter(bits: 1 << 27, hashes: 4)

    /// The sessions `events` belong to that were spilled earlier (or maybe were: see `spilled`).
    func notResident(_ events: [PreparedEvent]) -> Set<String> {
        guard spilledSessions > 0 else { return [] }
        return Set(events.compactMap(\.sessionID).filter { sessions[$0] == nil && spilled.mayContain($0) })
    }

    /// Folds a page; returns its rows and the states that leave memory.
    mutating func fold(_ prepared: [PreparedEvent], reloaded: [String: SessionState]) -> (TimelineChanges, [SessionState]) {
        sessions.merge(reloaded) { current, _ in current }
        spilledSessions -= reloaded.count
        reloadedSessions += reloaded.count
        let changes = TimelineFold.fold(prepared, sessions: &sessions, evses: &evses)
        abruptEnds += changes.abruptEnds
        events += prepared.count
        lastPosition = prepared.last?.event.position ?? lastPosition
        for id in changes.touchedSessions { lastTouched[id] = page }
        touchedIn[page] = Array(changes.touchedSessions)
        var leaving: [SessionState] = []
        while sessions.count > maxResidentSessions, oldestPage < page {
            for id in touchedIn.removeValue(forKey: oldestPage) ?? [] where lastTouched[id] == oldestPage {
                lastTouched[id] = nil
                if let state = sessions.removeValue(forKey: id) {
                    leaving.append(state)
                    spilled.insert(id)
                }
            }
            oldestPage += 1
        }
        spilledSessions += leaving.count
        page += 1
        return (changes, leaving)
    }

    /// Takes the states of `ids` out of the build tables (every projection keeps the same ones).
    static func reload(_ ids: Set<String>, from projections: [TimelineProjection], on session: PostgresSession) throws -> [String: SessionState] {
        var states: [String: SessionState] = [:]
        for (index, projection) in projections.enumerated() {
            let result = try session.query(
                """
                DELETE FROM \(unsafeRaw: projection.buildSchema).sessions t WHERE session_id = ANY(\(Array(ids)))
                RETURNING row_to_json(t)::text
                """
            )
            guard index == 0 else { continue }
            for row in result.rows {
                guard case .object(let object) = try JSONParser.parse(row.result.bytes(row: row.index, column: 0), maxDepth: 8, maxBytes: 1 << 24),
                    let state = TimelineRows.sessionState(object)
                else { continue }
                states[state.sessionID] = state
            }
        }
        return states
    }

    static func copy(_ changes: TimelineChanges, spilled: [SessionState], to projections: [TimelineProjection], on session: PostgresSession) throws {
        for projection in projections {
            let schema = projection.buildSchema
            if !spilled.isEmpty {
                // Spilled states are read back by id: from the first spill on, the key cannot wait
                // for the end (a replay that never spills builds it there, after the load).
                let keyed = try session.query(
                    "SELECT 1 FROM pg_constraint WHERE conname = 'sessions_pkey' AND connamespace = \(schema)::regnamespace"
                ).rowCount > 0
                if !keyed {
                    try session.execute(unsafeSQL: "ALTER TABLE \(schema).sessions ADD CONSTRAINT sessions_pkey PRIMARY KEY (session_id)")
                }
            }
            try TimelineRows.copy(spilled.lazy.map(TimelineRows.row), into: "sessions", columns: TimelineRows.sessionColumns, schema: schema, on: session)
            if projection.keepsSessionTimeline {
                try TimelineRows.copy(
                    changes.timeline.lazy.map(TimelineRows.row), into: "session_events", columns: TimelineRows.sessionEventColumns,
                    schema: schema, on: session
                )
            }
            if projection.keepsErrorTimeline {
                try TimelineRows.copy(
                    changes.errors.lazy.map(TimelineRows.row), into: "evse_errors", columns: TimelineRows.errorColumns, schema: schema,
                    on: session
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
            // Before any index exists: one pass over each table.
            try TimelineRows.markAbruptEnds(abruptEnds, projection: projection, schema: schema, on: session)
            if projection.keepsErrorTimeline {
                try TimelineRows.copy(
                    evses.values.lazy.map(TimelineRows.row), into: "evse_summary", columns: TimelineRows.evseColumns,
                    schema: schema, on: session
                )
                // One EVSE's errors on as few pages as possible: the EVSE timeline reads them
                // together. CLUSTER sorts on disk, so memory stays bounded here too.
                try session.execute(
                    unsafeSQL: """
                        CREATE INDEX evse_errors_cluster ON \(schema).evse_errors (evse_id, received_at DESC, position DESC);
                        CLUSTER \(schema).evse_errors USING evse_errors_cluster;
                        DROP INDEX \(schema).evse_errors_cluster
                        """
                )
            }
            try ProjectionRebuilder.createIndexes(for: projection, on: session)
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

/// A Bloom filter over strings: `mayContain` is false only for strings never inserted.
struct BloomFilter: Sendable {
    private var words: [UInt64]
    private let bitCount: Int
    private let hashes: Int

    init(bits: Int, hashes: Int) {
        words = [UInt64](repeating: 0, count: (bits + 63) / 64)
        bitCount = words.count * 64
        self.hashes = hashes
    }

    mutating func insert(_ value: String) {
        for bit in bits(of: value) { words[bit >> 6] |= 1 << UInt64(bit & 63) }
    }

    func mayContain(_ value: String) -> Bool {
        bits(of: value).allSatisfy { words[$0 >> 6] & (1 << UInt64($0 & 63)) != 0 }
    }

    /// `hashes` bit positions from two hashes (Kirsch–Mitzenmacher double hashing).
    private func bits(of value: String) -> [Int] {
        var first = Hasher()
        first.combine(value)
        var second = Hasher()
        second.combine(0x9E37_79B9_7F4A_7C15 as UInt64)
        second.combine(value)
        let a = UInt64(bitPattern: Int64(first.finalize())), b = UInt64(bitPattern: Int64(second.finalize())) | 1
        return (0..<hashes).map { Int((a &+ UInt64($0) &* b) % UInt64(bitCount)) }
    }
}
