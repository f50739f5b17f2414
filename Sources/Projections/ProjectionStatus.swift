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

    /// Reads the lag of `projections`, one statement each.
    public static func read(_ projections: [TimelineProjection], store: EventStore) async throws -> [ProjectionLag] {
        var lags: [ProjectionLag] = []
        for projection in projections {
            let query: PostgresQuery = """
                SELECT c.transaction_id, c.position, c.events_applied, c.updated_at,
                       (SELECT max(global_position) FROM ledger.events),
                       p.pending, p.oldest,
                       EXISTS (SELECT 1 FROM pg_locks
                                WHERE locktype = 'advisory' AND granted AND classid = \(TimelineProjection.lockNamespace)::oid
                                  AND objid = hashtext(\(projection.projectorLockName))::oid AND objsubid = 2)
                  FROM \(unsafeRaw: projection.schema).checkpoint c,
                       LATERAL (SELECT count(*) AS pending, extract(epoch FROM now() - min(e.recorded_at))::float8 AS oldest
                                  FROM ledger.events e
                                 WHERE (e.transaction_id, e.global_position) > (c.transaction_id::text::xid8, c.position)) p
                """
            let lag = try await store.pool.run { session in
                let result = try session.query(query)
                return ProjectionLag(
                    projection: projection.name,
                    checkpoint: ReadCursor(
                        transactionID: UInt64(try result.decode(Int64.self, row: 0, column: 0)),
                        position: try result.decode(row: 0, column: 1)
                    ),
                    eventsApplied: try result.decode(row: 0, column: 2),
                    updatedAt: try result.decode(row: 0, column: 3),
                    headPosition: try result.decode(Int64?.self, row: 0, column: 4),
                    pendingEvents: try result.decode(row: 0, column: 5),
                    oldestPendingAge: try result.decode(Double?.self, row: 0, column: 6),
                    projectorActive: try result.decode(row: 0, column: 7)
                )
            }
            lags.append(lag)
        }
        return lags
    }
}
