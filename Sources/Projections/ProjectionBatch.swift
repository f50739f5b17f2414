public import EventStore
import Foundation
import Ledger
import Postgres

/// What one step of a projector did.
public enum BatchOutcome: Sendable, Equatable {
    /// `count` events were folded in and the checkpoint moved to `cursor`, in one commit.
    case applied(count: Int, cursor: ReadCursor)
    /// Nothing to apply. `held` is true when committed events exist past the checkpoint but
    /// above the read horizon: some older transaction is still open, and a read soon will find them.
    case idle(held: Bool)
    /// The checkpoint moved under this step (a rebuild swapped the schema in); nothing was written.
    case checkpointMoved
}

/// One step of a projection: read the events after its checkpoint, fold them, and write the rows
/// and the new checkpoint in one transaction.
///
/// The transaction's first statement compares-and-sets the checkpoint. That makes two things
/// safe: a second writer (there should be none; see the advisory lock) finds the checkpoint moved
/// and writes nothing, and every later statement of the transaction resolves its table names to
/// the same schema as the checkpoint, even while a rebuild renames schemas (the rebuild locks the
/// live checkpoint table before it renames).
enum ProjectionBatch {
    /// A test hook: runs on the projector's connection after the rows are written, before COMMIT.
    typealias BeforeCommit = @Sendable (_ session: PostgresSession, _ count: Int) throws -> Void

    static func readCheckpoint(schema: String, on session: PostgresSession) throws -> (cursor: ReadCursor, applied: Int64) {
        let result = try session.query("SELECT transaction_id, position, events_applied FROM \(unsafeRaw: schema).checkpoint")
        guard result.rowCount == 1 else {
            throw PostgresError(code: .protocolViolation, message: "\(schema).checkpoint must hold exactly one row")
        }
        let cursor = ReadCursor(
            transactionID: UInt64(try result.decode(Int64.self, row: 0, column: 0)), position: try result.decode(row: 0, column: 1)
        )
        return (cursor, try result.decode(row: 0, column: 2))
    }

    /// Applies the next batch of at most `limit` events to `schema`.
    ///
    /// - Parameter inTransaction: the caller has a transaction open (the rebuild's swap); no
    ///   BEGIN/COMMIT here.
    /// - Parameter known: the checkpoint as this caller last committed it, to save reading it; the
    ///   compare-and-set finds out if it is stale (`.checkpointMoved`).
    static func applyNext(
        _ projection: TimelineProjection, schema: String, limit: Int, on session: PostgresSession, inTransaction: Bool = false,
        known: ReadCursor? = nil, beforeCommit: BeforeCommit? = nil
    ) throws -> BatchOutcome {
        let cursor = try known ?? readCheckpoint(schema: schema, on: session).cursor
        let events = try EventStore.decodeEvents(session.query(EventStore.readAllQuery(after: cursor, limit: limit)))
        guard let last = events.last else {
            let held = try session.query(
                """
                SELECT EXISTS (SELECT 1 FROM ledger.events
                                WHERE (transaction_id, global_position) > (\(cursor.transactionID)::xid8, \(cursor.position)))
                """
            ).decode(Bool.self, row: 0, column: 0)
            return .idle(held: held)
        }
        let prepared = events.map { PreparedEvent(FoldEvent($0)) }
        let write = {
            let moved = try session.query(
                """
                UPDATE \(unsafeRaw: schema).checkpoint
                   SET transaction_id = \(Int64(last.transactionID)), position = \(last.globalPosition),
                       events_applied = events_applied + \(events.count), updated_at = now()
                 WHERE transaction_id = \(Int64(cursor.transactionID)) AND position = \(cursor.position)
                """
            )
            guard moved.affectedRows == 1 else { return false }
            try apply(prepared, projection: projection, schema: schema, on: session)
            try beforeCommit?(session, events.count)
            return true
        }
        let applied = inTransaction ? try write() : try session.transaction(write)
        return applied ? .applied(count: events.count, cursor: last.cursor) : .checkpointMoved
    }

    /// Loads the states the events touch, folds, and writes what changed.
    static func apply(_ events: [PreparedEvent], projection: TimelineProjection, schema: String, on session: PostgresSession) throws {
        let sessionIDs = Set(events.compactMap(\.sessionID))
        var sessions = try TimelineRows.loadSessions(sessionIDs, schema: schema, on: session)
        var evses: [String: EvseSummary] = [:]
        if projection.keepsErrorTimeline {
            let evseIDs = Set(events.compactMap(\.evseID)).union(sessions.values.map(\.evseID))
            evses = try TimelineRows.loadEvses(evseIDs, schema: schema, on: session)
        }
        let changes = TimelineFold.fold(events, sessions: &sessions, evses: &evses)
        try write(changes, sessions: sessions, evses: evses, projection: projection, schema: schema, on: session)
    }

    static func write(
        _ changes: TimelineChanges, sessions: [String: SessionState], evses: [String: EvseSummary],
        projection: TimelineProjection, schema: String, on session: PostgresSession
    ) throws {
        try TimelineRows.replace(sessions: changes.touchedSessions, with: sessions, schema: schema, on: session)
        if projection.keepsSessionTimeline {
            try TimelineRows.copy(
                changes.timeline.map(TimelineRows.row), into: "session_events", columns: TimelineRows.sessionEventColumns,
                schema: schema, on: session
            )
        }
        if projection.keepsErrorTimeline {
            try TimelineRows.copy(
                changes.errors.map(TimelineRows.row), into: "evse_errors", columns: TimelineRows.errorColumns, schema: schema,
                on: session
            )
            try TimelineRows.replace(evses: changes.touchedEvses, with: evses, schema: schema, on: session)
        }
        try TimelineRows.markAbruptEnds(changes.abruptEnds, projection: projection, schema: schema, on: session)
    }
}

extension FoldEvent {
    init(_ event: RecordedEvent) {
        self.init(position: event.globalPosition, streamID: event.streamID, eventID: event.eventID, type: event.eventType, data: event.data)
    }
}
