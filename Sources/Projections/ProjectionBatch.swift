import EventStore
import Foundation
import Ledger
import Postgres

/// What a batch of events means for the read models: the fold of the batch, once, written to
/// each projection schema the batch moves (the live ones, or a rebuild's build schema).
struct ProjectionBatch: Sendable {
    /// Projections and the schemas written, in the subscription's checkpoint order.
    let targets: [(projection: TimelineProjection, schema: String)]

    /// Writes `batch` to the targets it advances as parts of the one statement that moves their
    /// checkpoints; reads their states on the subscriber's connection first.
    ///
    /// The states are read before the write: only the active subscriber writes these schemas
    /// (its lock), and a checkpoint that moved in between makes the statement write nothing.
    func write(_ batch: Subscription.Batch, on session: PostgresSession, into statement: inout Subscription.BatchStatement) throws {
        let targets = batch.advancing.map { self.targets[$0] }
        guard !batch.events.isEmpty, let first = targets.first else { return }
        let prepared = batch.events.map { PreparedEvent(FoldEvent($0)) }
        // Every projection keeps the same session states (the same fold of the same events up to
        // the same checkpoint), so one read of them serves all; the EVSE summaries come from the
        // projection that keeps them.
        let errors = targets.first { $0.projection.keepsErrorTimeline }
        var (sessions, evses) = try TimelineRows.loadStates(
            sessions: Set(prepared.compactMap(\.sessionID)), evses: errors.map { _ in Set(prepared.compactMap(\.evseID)) },
            schema: errors?.schema ?? first.schema, on: session
        )
        let changes = TimelineFold.fold(prepared, sessions: &sessions, evses: &evses)
        let states = try TimelineRows.bindStates(changes, sessions: sessions, into: &statement)
        for (index, target) in targets.enumerated() {
            try TimelineRows.write(
                changes, states: states, evses: evses, projection: target.projection, schema: target.schema, prefix: "p\(index)_",
                into: &statement
            )
        }
    }
}

extension FoldEvent {
    init(_ event: RecordedEvent) {
        self.init(position: event.globalPosition, streamID: event.streamID, eventID: event.eventID, type: event.eventType, data: event.data)
    }
}
