public import EventStore
public import Foundation
import Postgres

/// How far a projection is behind the store: what `error-ledger projections status` prints and
/// `/readyz` will check.
public struct ProjectionLag: Sendable, Codable {
    public var projection: String
    /// The last applied event, in the gap-safe order.
    public var checkpoint: ReadCursor
    public var eventsApplied: Int64
    /// When the checkpoint last moved.
    public var updatedAt: Date
    /// The newest stored position.
    public var headPosition: Int64?
    /// Events stored past the checkpoint (committed; some may wait behind an open transaction).
    public var pendingEvents: Int64
    /// Age of the oldest of them, since it was recorded.
    public var oldestPendingAge: Double?
    /// Whether some instance holds the projection's projector lock.
    public var projectorActive: Bool

    /// Reads the lag of `projections`.
    public static func read(_ projections: [TimelineProjection], store: EventStore) async throws -> [ProjectionLag] {
        var lags: [ProjectionLag] = []
        let head = try await store.headPosition()
        for projection in projections {
            let lock = projection.projectorLockName
            let (checkpoint, applied, updated, active) = try await store.pool.run { session in
                let row = try session.query(
                    "SELECT transaction_id, position, events_applied, updated_at FROM \(unsafeRaw: projection.checkpoint)"
                )
                let active = try Subscription.isLocked(lock, on: session)
                return (
                    ReadCursor(transactionID: UInt64(try row.decode(Int64.self, row: 0, column: 0)), position: try row.decode(row: 0, column: 1)),
                    try row.decode(Int64.self, row: 0, column: 2), try row.decode(Date.self, row: 0, column: 3), active
                )
            }
            let pending = try await store.pendingEvents(after: checkpoint)
            lags.append(
                ProjectionLag(
                    projection: projection.name, checkpoint: checkpoint, eventsApplied: applied, updatedAt: updated,
                    headPosition: head, pendingEvents: pending.count, oldestPendingAge: pending.oldestAge,
                    projectorActive: active
                )
            )
        }
        return lags
    }
}
