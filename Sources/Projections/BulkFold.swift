import Dispatch
import EventStore
import JSON
import Ledger
import OICP
import Postgres
import Synchronization

/// A thread of its own for the rebuild's fold: CPU-bound work that would otherwise hold a
/// thread of the cooperative pool for the whole replay.
final class FoldThread: Sendable {
    private let queue = DispatchQueue(label: "rebuild.fold")

    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        await withCheckedContinuation { continuation in queue.async { continuation.resume(returning: body()) } }
    }
}

/// The fold's state, reached from the fold thread one page at a time.
final class BulkFoldBox: Sendable {
    let state: Mutex<BulkFold>

    init(maxResidentSessions: Int) { state = Mutex(BulkFold(maxResidentSessions: maxResidentSessions)) }
}

/// The rebuild's fold. Memory stays bounded, not growing with the store: when more than
/// `maxResidentSessions` session states are in memory, the least recently touched are written to
/// the build table and dropped; if an event of one turns up later, its state is read back. EVSE
/// summaries (one per EVSE) stay in memory throughout.
struct BulkFold {
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
            try TimelineRows.copy(spilled, into: "sessions", columns: TimelineRows.sessionColumns, schema: schema, on: session, as: TimelineRows.write)
            if projection.keepsSessionTimeline {
                try TimelineRows.copy(
                    changes.timeline, into: "session_events", columns: TimelineRows.sessionEventColumns, schema: schema, on: session,
                    as: TimelineRows.write
                )
            }
            if projection.keepsErrorTimeline {
                try TimelineRows.copy(
                    changes.errors, into: "evse_errors", columns: TimelineRows.errorColumns, schema: schema, on: session,
                    as: TimelineRows.write
                )
            }
        }
    }

    func finish(_ projections: [TimelineProjection], at cursor: ReadCursor, fillingStatistics: Bool = true, on session: PostgresSession) throws {
        for projection in projections {
            let schema = projection.buildSchema
            try TimelineRows.copy(
                sessions.values, into: "sessions", columns: TimelineRows.sessionColumns, schema: schema, on: session,
                as: TimelineRows.write
            )
            // Before any index exists: one pass over each table.
            try TimelineRows.markAbruptEnds(abruptEnds, projection: projection, schema: schema, on: session)
            if projection.keepsErrorTimeline {
                try TimelineRows.copy(
                    evses.values, into: "evse_summary", columns: TimelineRows.evseColumns, schema: schema, on: session,
                    as: TimelineRows.write
                )
                // Sessions that retention took out of the store still count (db/0020).
                try session.query("SELECT ledger.add_retired_summaries(\(schema))")
                if fillingStatistics { try StatisticsRollup.fill(schema: schema, on: session) }
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
            try Subscription.setCheckpoint(schema + ".checkpoint", to: cursor, eventsApplied: events, on: session)
        }
    }
}
