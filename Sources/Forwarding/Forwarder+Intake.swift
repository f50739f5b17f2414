import EventStore
import Foundation
import Ledger
import Logging
import OICP
import Postgres

/// The intake (a subscription of the store) and loading open deliveries into memory.
extension Forwarder {
    // MARK: - Intake

    /// Takes in the next batch of committed events (the intake subscription's step): forwarded
    /// lifecycle events become deliveries, and retry requests open their dead letters again, in
    /// the transaction that moves the checkpoint.
    func intake(_ connection: PostgresConnection, known: inout [ReadCursor]?) async throws -> (inserted: Int, reopened: [Int64]) {
        var subscription = Self.intake
        subscription.batchSize = configuration.batchSize
        let intake = subscription
        let types = Dictionary(
            uniqueKeysWithValues: configuration.types.map { (LedgerEventType(recording: NotificationType(rawValue: $0.rawValue)!).rawValue, $0.rawValue) }
        )
        let now = configuration.clock.now()
        let (taken, cursors) = try await connection.run { [known] session in
            var cursors = known
            let (_, taken) = try intake.step(on: session, known: &cursors) { batch, session in
                try Self.takeIn(batch.events, types: types, now: now, on: session)
            }
            return (taken ?? (0, []), cursors)
        }
        known = cursors
        return taken
    }

    /// Writes a batch's deliveries and reopened dead letters (inside the intake's transaction).
    static func takeIn(
        _ events: [RecordedEvent], types: [String: String], now: Date, on session: PostgresSession
    ) throws -> (inserted: Int, reopened: [Int64]) {
        // Every lifecycle event of a forwarded type in a session stream; its EVSE and operator
        // go with it (for operator-limited views of the deliveries) as far as its data names them.
        let taken = events.compactMap { event -> (event: RecordedEvent, session: String, kind: String, evse: String?, operator: String?)? in
            guard let kind = types[event.eventType], let session = StreamName.sessionID(of: event.streamID) else { return nil }
            let parties = RecordedNotification.parties(ofData: event.data)
            return (event, session, kind, parties.evseID, parties.operatorID)
        }
        let retries = events.compactMap { DeliveryEvent(type: $0.eventType, data: $0.data) }.filter { $0.type == .deliveryRetryRequested }
        var inserted = 0
        if !taken.isEmpty {
            inserted = try session.query(
                """
                INSERT INTO forwarding.deliveries (position, event_id, session_id, notification_type, evse_id, operator_id, next_attempt_at)
                SELECT p, i, s, k, NULLIF(e, ''), NULLIF(o, ''), \(now)
                  FROM unnest(\(taken.map { String($0.event.globalPosition) })::bigint[], \(taken.map { $0.event.eventID.uuidString.lowercased() })::uuid[],
                              \(taken.map(\.session))::text[], \(taken.map(\.kind))::text[], \(taken.map { $0.evse ?? "" })::text[],
                              \(taken.map { $0.operator ?? "" })::text[]) AS t(p, i, s, k, e, o)
                ON CONFLICT (position) DO NOTHING
                """
            ).affectedRows
        }
        var reopened: [Int64] = []
        if !retries.isEmpty {
            reopened = try session.query(
                """
                UPDATE forwarding.deliveries
                   SET state = 'pending', attempts = 0, first_attempt_at = NULL, next_attempt_at = \(now), finished_at = NULL,
                       status_code = NULL, reason = 'sent again on an operator''s request'
                 WHERE position = ANY(\(retries.map { String($0.position) })::bigint[]) AND state = 'dead'
                RETURNING position
                """
            ).rows.map { try $0.decode(Int64.self, column: 0) }
        }
        return (inserted, reopened)
    }

    // MARK: - Loading into memory

    /// Where loading from the table stands: every open delivery taken in at or before
    /// `loadedThrough` (its `intake_seq`: intake order, which positions are not) is in memory,
    /// in flight, or finished.
    struct Loader {
        var loadedThrough: Int64 = 0
        var moreInTable = true
    }

    static let openRowColumns = """
        d.position, d.session_id, d.notification_type, d.attempts, d.first_attempt_at, d.next_attempt_at,
        CASE WHEN d.notification_type = 'Progress' THEN
            (SELECT max(p.finished_at) FROM forwarding.deliveries p
              WHERE p.session_id = d.session_id AND p.notification_type = 'Progress' AND p.state = 'delivered') END,
        d.intake_seq
        """

    /// Loads the next open deliveries in intake order, while the window has room.
    func refill(_ connection: PostgresConnection, _ loader: inout Loader) async throws {
        guard loader.moreInTable else { return }
        let room = configuration.window - state.withLock { $0.backlog.count }
        guard room > 0 else { return }
        let limit = min(room, 5000)
        let after = loader.loadedThrough
        let result = try await connection.run { session in
            try session.query(
                """
                SELECT \(unsafeRaw: Self.openRowColumns)
                  FROM forwarding.deliveries d
                 WHERE d.state IN ('pending', 'retrying') AND d.intake_seq > \(after)
                 ORDER BY d.intake_seq LIMIT \(limit)
                """
            )
        }
        let last = try add(result)
        if let last { loader.loadedThrough = last }
        loader.moreInTable = result.rowCount == limit
    }

    /// Loads open deliveries by position (ones an operator's retry opened again).
    func load(_ connection: PostgresConnection, positions: [Int64]) async throws {
        let list = positions.map(String.init)
        let result = try await connection.run { session in
            try session.query(
                "SELECT \(unsafeRaw: Self.openRowColumns) FROM forwarding.deliveries d WHERE d.state IN ('pending', 'retrying') AND d.position = ANY(\(list)::bigint[])"
            )
        }
        _ = try add(result)
    }

    /// Adds rows of `openRowColumns` to the backlog; returns the last row's `intake_seq`.
    func add(_ result: PostgresResult) throws -> Int64? {
        var rows: [(String, PendingNotification, Date?)] = []
        var last: Int64?
        for row in result.rows {
            let attempts = try row.decode(Int.self, column: 3)
            // Not tried yet: due at once (the stored time is rounded to microseconds, which could
            // put it a hair after the clock that wrote it).
            let notBefore = attempts == 0 ? Date.distantPast : try row.decode(Date.self, column: 5)
            let notification = PendingNotification(
                position: try row.decode(column: 0), kind: PendingNotification.Kind(rawValue: try row.decode(column: 2)) ?? .error,
                attempts: attempts, firstAttemptAt: try row.decode(Date?.self, column: 4), notBefore: notBefore
            )
            rows.append((try row.decode(column: 1), notification, try row.decode(Date?.self, column: 6)))
            last = try row.decode(Int64.self, column: 7)
        }
        state.withLock { state in
            for (session, notification, lastProgress) in rows where !state.backlog.contains(session: session, position: notification.position) {
                state.backlog.add(notification, session: session, lastProgressAccepted: lastProgress)
            }
        }
        return last
    }
}
