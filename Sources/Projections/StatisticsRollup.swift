import EventStore
import Postgres

/// The statistics rollups of the `evse_errors` projection (db/0016): errors and sessions per UTC
/// hour, per EVSE and per operator, and per UTC day per operator.
///
/// Two ways in, which a test holds equal: the projector adds each batch's deltas in its batch
/// statement (`deltas`); a rebuild fills them at once from the rebuilt tables (`fill`).
enum StatisticsRollup {
    /// Parts of a batch statement that add the batch to the rollups of `schema`.
    ///
    /// Computed in SQL from what the statement writes and from the tables as they were before
    /// it (every part of one statement sees the same snapshot):
    /// - errors: +1 for each new error; for each earlier error the batch marks `abrupt_end`, −1
    ///   in its old phase and +1 in `abrupt_end` (its hour and type are read from `evse_errors`);
    /// - sessions: a session state new to the table counts once; one whose error count leaves
    ///   zero or whose abrupt end turns true counts once more in that column, in the hour the
    ///   session was first seen.
    ///
    /// - Parameters: the placeholders of the batch's error rows, marked positions and session
    ///   states, as bound for the other parts.
    static func deltas(schema: String, prefix: String, errors: String, marks: String, states: String) -> [String] {
        let moved = Subscription.BatchStatement.moved
        let errorDeltas = "\(prefix)error_deltas"
        let sessionDeltas = "\(prefix)session_deltas"
        return [
            """
            \(errorDeltas) AS (
                SELECT evse_id, operator_id, date_trunc('hour', received_at, 'UTC') AS hour, error_type, phase, 1 AS delta
                  FROM unnest(\(errors)::text::\(schema).evse_errors[])
                UNION ALL
                SELECT e.evse_id, e.operator_id, date_trunc('hour', e.received_at, 'UTC'), e.error_type, m.phase, m.delta
                  FROM \(schema).evse_errors e CROSS JOIN LATERAL (VALUES ('abrupt_end', 1), (e.phase, -1)) m(phase, delta)
                 WHERE e.position = ANY(\(marks)::bigint[]) AND e.phase <> 'abrupt_end')
            """,
            """
            \(prefix)error_hours AS (
                INSERT INTO \(schema).error_hours AS t (evse_id, hour, error_type, phase, operator_id, errors)
                SELECT evse_id, hour, error_type, phase, min(operator_id), sum(delta) FROM \(errorDeltas)
                 WHERE \(moved) GROUP BY evse_id, hour, error_type, phase
                ON CONFLICT (evse_id, hour, error_type, phase)
                DO UPDATE SET errors = t.errors + EXCLUDED.errors, operator_id = least(t.operator_id, EXCLUDED.operator_id))
            """,
            """
            \(prefix)operator_error_hours AS (
                INSERT INTO \(schema).operator_error_hours AS t (operator_key, evse_operator_key, hour, error_type, phase, operator_id, errors)
                SELECT ledger.operator_key(operator_id), coalesce(ledger.evse_operator_key(evse_id), ''), hour, error_type, phase,
                       min(operator_id), sum(delta)
                  FROM \(errorDeltas) WHERE \(moved) GROUP BY 1, 2, 3, 4, 5
                ON CONFLICT (operator_key, evse_operator_key, hour, error_type, phase)
                DO UPDATE SET errors = t.errors + EXCLUDED.errors, operator_id = least(t.operator_id, EXCLUDED.operator_id))
            """,
            """
            \(prefix)operator_error_days AS (
                INSERT INTO \(schema).operator_error_days AS t (operator_key, evse_operator_key, day, error_type, phase, operator_id, errors)
                SELECT ledger.operator_key(operator_id), coalesce(ledger.evse_operator_key(evse_id), ''), (hour AT TIME ZONE 'UTC')::date,
                       error_type, phase, min(operator_id), sum(delta)
                  FROM \(errorDeltas) WHERE \(moved) GROUP BY 1, 2, 3, 4, 5
                ON CONFLICT (operator_key, evse_operator_key, day, error_type, phase)
                DO UPDATE SET errors = t.errors + EXCLUDED.errors, operator_id = least(t.operator_id, EXCLUDED.operator_id))
            """,
            """
            \(sessionDeltas) AS (
                SELECT n.evse_id, n.operator_id, date_trunc('hour', n.first_received_at, 'UTC') AS hour,
                       (o.session_id IS NULL)::int AS sessions,
                       (n.error_count > 0 AND coalesce(o.error_count, 0) = 0)::int AS with_errors,
                       (n.abrupt_end AND NOT coalesce(o.abrupt_end, false))::int AS abrupt_ends
                  FROM unnest(\(states)::text::\(schema).sessions[]) n
                  LEFT JOIN \(schema).sessions o USING (session_id))
            """,
            """
            \(prefix)session_hours AS (
                INSERT INTO \(schema).session_hours AS t (evse_id, hour, operator_id, sessions, sessions_with_errors, abrupt_ends)
                SELECT evse_id, hour, min(operator_id), sum(sessions), sum(with_errors), sum(abrupt_ends) FROM \(sessionDeltas)
                 WHERE \(moved) GROUP BY evse_id, hour HAVING sum(sessions) + sum(with_errors) + sum(abrupt_ends) > 0
                ON CONFLICT (evse_id, hour) DO UPDATE SET
                    sessions = t.sessions + EXCLUDED.sessions, sessions_with_errors = t.sessions_with_errors + EXCLUDED.sessions_with_errors,
                    abrupt_ends = t.abrupt_ends + EXCLUDED.abrupt_ends, operator_id = least(t.operator_id, EXCLUDED.operator_id))
            """,
            """
            \(prefix)operator_session_hours AS (
                INSERT INTO \(schema).operator_session_hours AS t
                       (operator_key, evse_operator_key, hour, operator_id, sessions, sessions_with_errors, abrupt_ends)
                SELECT ledger.operator_key(operator_id), coalesce(ledger.evse_operator_key(evse_id), ''), hour, min(operator_id),
                       sum(sessions), sum(with_errors), sum(abrupt_ends)
                  FROM \(sessionDeltas) WHERE \(moved) GROUP BY 1, 2, 3 HAVING sum(sessions) + sum(with_errors) + sum(abrupt_ends) > 0
                ON CONFLICT (operator_key, evse_operator_key, hour) DO UPDATE SET
                    sessions = t.sessions + EXCLUDED.sessions, sessions_with_errors = t.sessions_with_errors + EXCLUDED.sessions_with_errors,
                    abrupt_ends = t.abrupt_ends + EXCLUDED.abrupt_ends, operator_id = least(t.operator_id, EXCLUDED.operator_id))
            """,
            """
            \(prefix)operator_session_days AS (
                INSERT INTO \(schema).operator_session_days AS t
                       (operator_key, evse_operator_key, day, operator_id, sessions, sessions_with_errors, abrupt_ends)
                SELECT ledger.operator_key(operator_id), coalesce(ledger.evse_operator_key(evse_id), ''), (hour AT TIME ZONE 'UTC')::date,
                       min(operator_id), sum(sessions), sum(with_errors), sum(abrupt_ends)
                  FROM \(sessionDeltas) WHERE \(moved) GROUP BY 1, 2, 3 HAVING sum(sessions) + sum(with_errors) + sum(abrupt_ends) > 0
                ON CONFLICT (operator_key, evse_operator_key, day) DO UPDATE SET
                    sessions = t.sessions + EXCLUDED.sessions, sessions_with_errors = t.sessions_with_errors + EXCLUDED.sessions_with_errors,
                    abrupt_ends = t.abrupt_ends + EXCLUDED.abrupt_ends, operator_id = least(t.operator_id, EXCLUDED.operator_id))
            """,
        ]
    }

    /// Fills the (empty) rollups of `schema` from its complete `evse_errors` and `sessions`.
    static func fill(schema: String, on session: PostgresSession) throws {
        try session.query("SELECT ledger.fill_statistics(\(schema))")
    }
}
