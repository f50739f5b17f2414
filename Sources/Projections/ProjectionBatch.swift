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
/// and the new checkpoint in one statement (`TimelineRows.write`).
///
/// Every part of that statement runs only if the checkpoint still is where the step started
/// (compare-and-set). That makes two things safe: a second writer (there should be none; see the
/// advisory lock) finds the checkpoint moved and writes nothing, and all the statement's tables
/// resolve to one schema, even while a rebuild renames schemas (the rebuild locks the live
/// checkpoint table first, so a write waits and then resolves to the swapped-in schema).
enum ProjectionBatch {
    /// A test hook: runs on the projector's connection after the rows are written, before COMMIT.
    typealias BeforeCommit = @Sendable (_ session: PostgresSession, _ count: Int) throws -> Void

    static func readCheckpoint(schema: String, on session: PostgresSession) throws -> ReadCursor {
        let result = try session.prepared("SELECT transaction_id, position FROM \(unsafeRaw: schema).checkpoint")
        guard result.rowCount == 1 else {
            throw PostgresError(code: .protocolViolation, message: "\(schema).checkpoint must hold exactly one row")
        }
        return ReadCursor(
            transactionID: UInt64(try result.decode(Int64.self, row: 0, column: 0)), position: try result.decode(row: 0, column: 1)
        )
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
        let cursor = try known ?? readCheckpoint(schema: schema, on: session)
        let events = try EventStore.decodeEvents(session.prepared(EventStore.readAllQuery(after: cursor, limit: limit)))
        guard let last = events.last else {
            // Not prepared: a generic plan guesses that many rows match and scans the table, which
            // is the worst case when none do. ORDER BY … LIMIT 1 walks the gap-safe index.
            let held = try session.query(
                """
                SELECT 1 FROM ledger.events
                 WHERE (transaction_id, global_position) > (\(cursor.transactionID)::xid8, \(cursor.position))
                 ORDER BY transaction_id, global_position LIMIT 1
                """
            ).rowCount > 0
            return .idle(held: held)
        }
        let prepared = events.map { PreparedEvent(FoldEvent($0)) }
        // The states are read before the write: only this projector writes this schema (the
        // advisory lock), and the write's compare-and-set fails if the checkpoint, and so any
        // state, moved in between.
        var (sessions, evses) = try TimelineRows.loadStates(
            sessions: Set(prepared.compactMap(\.sessionID)),
            evses: projection.keepsErrorTimeline ? Set(prepared.compactMap(\.evseID)) : nil, schema: schema, on: session
        )
        let changes = TimelineFold.fold(prepared, sessions: &sessions, evses: &evses)
        let write = {
            guard
                try TimelineRows.write(
                    changes, sessions: sessions, evses: evses, projection: projection, schema: schema, from: cursor, to: last.cursor,
                    count: events.count, on: session
                )
            else { return false }
            try beforeCommit?(session, events.count)
            return true
        }
        // The write is one statement, atomic by itself. With a test hook it runs in a
        // transaction, so the hook can kill the connection between the write and the commit.
        let applied: Bool
        if inTransaction || beforeCommit == nil {
            applied = try write()
        } else {
            applied = try session.transaction { try write() }
        }
        return applied ? .applied(count: events.count, cursor: last.cursor) : .checkpointMoved
    }
}

extension FoldEvent {
    init(_ event: RecordedEvent) {
        self.init(position: event.globalPosition, streamID: event.streamID, eventID: event.eventID, type: event.eventType, data: event.data)
    }
}
