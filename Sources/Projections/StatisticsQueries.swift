public import EventStore
public import Foundation
import JSON
import Ledger
import OICP
import Postgres

/// Statistics of the fault history, for analysts and the ops dashboard: series over time, fair
/// rankings, one EVSE's reliability, the most frequent error messages.
///
/// Series, rankings and reliability read the hourly rollups (db/0016), never the events; only
/// the first and last error of a window and the messages read the error timeline. Rollups are
/// per UTC hour, so every window is taken to whole buckets (`StatisticsWindow`) and a time zone
/// must be a whole number of hours from UTC in that window.
public struct StatisticsQueries: Sendable {
    /// The most points a series returns; a request for more is refused (narrow the window, take
    /// a larger bucket or filter).
    public static let maxPoints = 100_000
    /// The most rows a ranking and the messages of one type return.
    public static let maxRankingLimit = 1000

    private let store: EventStore

    public init(store: EventStore) {
        self.store = store
    }

    // MARK: - Series

    /// Errors and sessions per bucket in the window, grouped as asked.
    ///
    /// - `group_by` none: one point per bucket, every bucket of the window (zero-filled).
    /// - `error_type`, `phase`: one point per bucket and group, every group seen in the window
    ///   in every bucket; `sessions` is the bucket's sessions (the denominator of a rate).
    /// - `evse`, `operator`: the group's own errors and sessions, where either is not zero.
    public func series(_ request: SeriesRequest) async throws -> Series {
        let window = request.window
        let perEvse = request.scope.evseID != nil || request.groupBy == .evse
        // UTC days and weeks of the fleet or an operator come from the daily rollups (a day's row
        // where there would be 24 hourly ones); the rest from the hourly ones.
        let daily = !perEvse && window.bucket != .hour && window.isUTC
        let (errorTable, sessionTable) =
            perEvse ? ("error_hours", "session_hours")
            : daily ? ("operator_error_days", "operator_session_days") : ("operator_error_hours", "operator_session_hours")
        var builder = QueryBuilder()
        let bucket = window.bucket.rawValue
        let bucketStart =
            daily
            ? "date_trunc('\(bucket)', day::timestamp) AT TIME ZONE 'UTC'"
            : "date_trunc('\(bucket)', hour, \(builder.bind(window.timeZoneName)))"
        let (errorGroup, sessionGroup, label): (String, String, String) =
            switch request.groupBy {
            case .none: ("NULL::text", "NULL::text", "NULL::text")
            case .evse: ("evse_id", "evse_id", "evse_id")
            case .operator: perEvse
                ? ("ledger.operator_key(operator_id)", "ledger.operator_key(operator_id)", "min(operator_id)")
                : ("operator_key", "operator_key", "min(operator_id)")
            case .errorType: ("error_type", "NULL::text", "error_type")
            case .phase: ("phase", "NULL::text", "phase")
            }
        let sessionLabel = request.groupBy == .evse || request.groupBy == .operator ? label : "NULL::text"
        var common =
            daily
            ? [
                "day >= (\(builder.bind(window.from)) AT TIME ZONE 'UTC')::date",
                "day < (\(builder.bind(window.to)) AT TIME ZONE 'UTC')::date",
            ]
            : ["hour >= \(builder.bind(window.from))", "hour < \(builder.bind(window.to))"]
        common += Self.scopeConditions(request.scope, perEvse: perEvse, builder: &builder)
        var errorConditions = common
        if !request.scope.errorTypes.isEmpty { errorConditions.append("error_type = ANY(\(builder.bind(request.scope.errorTypes)))") }
        let limit = builder.bind(Self.maxPoints * 2 + 1)
        let query = builder.query(
            """
            SELECT 'e', \(bucketStart), \(errorGroup), \(label), sum(errors)::int8
              FROM projection_evse_errors.\(errorTable) WHERE \(errorConditions.joined(separator: " AND "))
             GROUP BY 2, 3
            UNION ALL
            SELECT 's', \(bucketStart), \(sessionGroup), \(sessionLabel), sum(sessions)::int8
              FROM projection_evse_errors.\(sessionTable) WHERE \(common.joined(separator: " AND "))
             GROUP BY 2, 3
            LIMIT \(limit)
            """
        )
        let rows = try await store.pool.prepared(query).rows.map { row in
            (
                kind: try row.decode(String.self, column: 0), bucket: try row.decode(Date.self, column: 1),
                key: try row.decode(String?.self, column: 2), label: try row.decode(String?.self, column: 3),
                count: try row.decode(Int64.self, column: 4)
            )
        }
        guard rows.count <= Self.maxPoints * 2 else { throw StatisticsError.tooManyPoints }
        struct Key: Hashable {
            var bucket: Date
            var group: String?
        }
        var errors: [Key: Int64] = [:], sessions: [Key: Int64] = [:], labels: [String: String] = [:], groups: [String] = []
        for row in rows {
            let key = Key(bucket: row.bucket, group: row.key)
            if row.kind == "e" { errors[key, default: 0] += row.count } else { sessions[key, default: 0] += row.count }
            if let group = row.key, labels[group] == nil {
                labels[group] = row.label ?? group
                groups.append(group)
            }
        }
        var points: [SeriesPoint] = []
        switch request.groupBy {
        case .none:
            for start in window.buckets {
                let key = Key(bucket: start, group: nil)
                points.append(SeriesPoint(bucketStart: start, group: nil, errors: errors[key] ?? 0, sessions: sessions[key] ?? 0))
            }
        case .errorType, .phase:
            let sorted = groups.sorted()
            // `buckets` is computed (in a named zone, by the calendar): once.
            let buckets = window.buckets
            guard buckets.count * max(sorted.count, 1) <= Self.maxPoints else { throw StatisticsError.tooManyPoints }
            for start in buckets {
                let total = sessions[Key(bucket: start, group: nil)] ?? 0
                for group in sorted {
                    points.append(SeriesPoint(bucketStart: start, group: group, errors: errors[Key(bucket: start, group: group)] ?? 0, sessions: total))
                }
            }
        case .evse, .operator:
            let keys = Set(errors.keys).union(sessions.keys).sorted { ($0.bucket, $0.group ?? "") < ($1.bucket, $1.group ?? "") }
            guard keys.count <= Self.maxPoints else { throw StatisticsError.tooManyPoints }
            for key in keys {
                points.append(
                    SeriesPoint(
                        bucketStart: key.bucket, group: key.group.map { labels[$0] ?? $0 }, errors: errors[key] ?? 0, sessions: sessions[key] ?? 0
                    )
                )
            }
        }
        return Series(window: window, groupBy: request.groupBy, points: points)
    }

    // MARK: - Rankings

    /// EVSEs ranked by a rate over their sessions in the window, highest first, among those with
    /// at least `minSessions` sessions (so that one session with one error does not top the list).
    ///
    /// Sessions count in the hour they were first seen, errors in the hour they were received.
    /// With error types, `errors` counts only those, and "sessions with an error" and "abrupt
    /// ends" count the sessions that had an error of those types received in the window.
    public func rankings(_ request: RankingRequest) async throws -> [EvseRanking] {
        let window = request.window
        var builder = QueryBuilder()
        let conditions = Self.conditions(request.scope, window: window, perEvse: true, column: "hour", builder: &builder)
        let minSessions = builder.bind(request.minSessions)
        var errorConditions = conditions
        let typed = !request.scope.errorTypes.isEmpty
        var typedShares = ""
        if typed {
            let types = builder.bind(request.scope.errorTypes)
            errorConditions.append("error_type = ANY(\(types))")
            typedShares = """
                , t AS (SELECT evse_id, count(DISTINCT session_id) AS with_errors,
                               count(DISTINCT session_id) FILTER (WHERE phase = 'abrupt_end') AS abrupt_ends
                          FROM projection_evse_errors.evse_errors
                         WHERE received_at >= \(builder.bind(window.from)) AND received_at < \(builder.bind(window.to))
                           AND error_type = ANY(\(types)) AND evse_id IN (SELECT evse_id FROM s)
                         GROUP BY evse_id)
                """
        }
        let limit = builder.bind(request.limit)
        let order: String =
            switch request.metric {
            case .errorsPerSession: "errors::float8 / sessions"
            case .errorSessionShare: "with_errors::float8 / sessions"
            case .abruptEndShare: "abrupt_ends::float8 / sessions"
            }
        let query = builder.query(
            """
            WITH s AS (SELECT evse_id, min(operator_id) AS operator_id, sum(sessions)::int8 AS sessions,
                              sum(sessions_with_errors)::int8 AS with_errors, sum(abrupt_ends)::int8 AS abrupt_ends
                         FROM projection_evse_errors.session_hours WHERE \(conditions.joined(separator: " AND "))
                        GROUP BY evse_id HAVING sum(sessions) >= \(minSessions)),
                 e AS (SELECT evse_id, sum(errors)::int8 AS errors FROM projection_evse_errors.error_hours
                        WHERE \(errorConditions.joined(separator: " AND ")) AND evse_id IN (SELECT evse_id FROM s)
                        GROUP BY evse_id)\(typedShares),
                 r AS (SELECT s.evse_id, s.operator_id, s.sessions, coalesce(e.errors, 0) AS errors,
                              \(typed ? "coalesce(t.with_errors, 0)" : "s.with_errors") AS with_errors,
                              \(typed ? "coalesce(t.abrupt_ends, 0)" : "s.abrupt_ends") AS abrupt_ends
                         FROM s LEFT JOIN e USING (evse_id)\(typed ? " LEFT JOIN t USING (evse_id)" : ""))
            SELECT evse_id, operator_id, sessions, errors, with_errors, abrupt_ends FROM r
             ORDER BY \(order) DESC, sessions DESC, evse_id
             LIMIT \(limit)
            """
        )
        return try await store.pool.prepared(query).rows.map { row in
            EvseRanking(
                evseID: try row.decode(column: 0), operatorID: try row.decode(column: 1), sessions: try row.decode(column: 2),
                errors: try row.decode(column: 3), sessionsWithErrors: try row.decode(column: 4), abruptEnds: try row.decode(column: 5)
            )
        }
    }

    // MARK: - Reliability

    /// One EVSE's figures over the window (nil when the ledger has never seen it).
    public func reliability(_ evseID: String, window: StatisticsWindow) async throws -> EvseReliability? {
        let query: PostgresQuery = """
            SELECT v.evse_id, v.operator_id,
                   (SELECT coalesce(sum(sessions), 0)::int8 FROM projection_evse_errors.session_hours
                     WHERE evse_id = v.evse_id AND hour >= \(window.from) AND hour < \(window.to)),
                   (SELECT coalesce(sum(sessions_with_errors), 0)::int8 FROM projection_evse_errors.session_hours
                     WHERE evse_id = v.evse_id AND hour >= \(window.from) AND hour < \(window.to)),
                   (SELECT coalesce(sum(abrupt_ends), 0)::int8 FROM projection_evse_errors.session_hours
                     WHERE evse_id = v.evse_id AND hour >= \(window.from) AND hour < \(window.to)),
                   (SELECT coalesce(jsonb_object_agg(error_type, n), '{}')::text FROM
                      (SELECT error_type, sum(errors) AS n FROM projection_evse_errors.error_hours
                        WHERE evse_id = v.evse_id AND hour >= \(window.from) AND hour < \(window.to)
                        GROUP BY error_type HAVING sum(errors) > 0) c),
                   (SELECT min(received_at) FROM projection_evse_errors.evse_errors
                     WHERE evse_id = v.evse_id AND received_at >= \(window.from) AND received_at < \(window.to)),
                   (SELECT max(received_at) FROM projection_evse_errors.evse_errors
                     WHERE evse_id = v.evse_id AND received_at >= \(window.from) AND received_at < \(window.to)),
                   v.last_error_at,
                   (SELECT count(*) FROM projection_evse_errors.sessions
                     WHERE evse_id = v.evse_id AND first_received_at > coalesce(v.last_error_at, '-infinity'))
              FROM projection_evse_errors.evse_summary v
             WHERE v.evse_id = \(evseID)
            """
        return try await store.pool.prepared(query).rows.first.map { row in
            var byType: [String: Int64] = [:]
            if case .object(let object) = try? JSONParser.parse(try row.decode(String.self, column: 5).utf8, maxDepth: 4, maxBytes: 1 << 20) {
                for (type, count) in object { byType[type] = count.numberText.flatMap { Int64($0) } ?? 0 }
            }
            return EvseReliability(
                evseID: try row.decode(column: 0), operatorID: try row.decode(column: 1), window: window,
                sessions: try row.decode(column: 2), sessionsWithErrors: try row.decode(column: 3), abruptEnds: try row.decode(column: 4),
                errorsByType: byType, firstErrorAt: try row.decode(Date?.self, column: 6), lastErrorAt: try row.decode(Date?.self, column: 7),
                lastErrorEverAt: try row.decode(Date?.self, column: 8), sessionsSinceLastError: try row.decode(column: 9)
            )
        }
    }

    // MARK: - Messages

    /// The most frequent `ErrorAdditionalInfo` texts per error type in the window (an error
    /// without one counts as a null message), at most `limit` per type, most frequent first.
    public func messages(_ request: MessagesRequest) async throws -> [ErrorMessageCount] {
        let window = request.window
        var builder = QueryBuilder()
        var conditions = [
            "received_at >= \(builder.bind(window.from))", "received_at < \(builder.bind(window.to))",
        ]
        conditions += Self.scopeConditions(request.scope, perEvse: true, builder: &builder)
        if !request.scope.errorTypes.isEmpty { conditions.append("error_type = ANY(\(builder.bind(request.scope.errorTypes)))") }
        let limit = builder.bind(request.limit)
        let query = builder.query(
            """
            SELECT error_type, message, errors, evses, last_seen_at FROM (
                SELECT error_type, error_additional_info AS message, count(*)::int8 AS errors, count(DISTINCT evse_id)::int8 AS evses,
                       max(received_at) AS last_seen_at,
                       row_number() OVER (PARTITION BY error_type ORDER BY count(*) DESC, error_additional_info NULLS LAST) AS rank
                  FROM projection_evse_errors.evse_errors WHERE \(conditions.joined(separator: " AND "))
                 GROUP BY error_type, error_additional_info) m
             WHERE rank <= \(limit)
             ORDER BY error_type, errors DESC, message NULLS LAST
            """
        )
        return try await store.pool.prepared(query).rows.map { row in
            ErrorMessageCount(
                errorType: try row.decode(column: 0), message: try row.decode(String?.self, column: 1), errors: try row.decode(column: 2),
                evses: try row.decode(column: 3), lastSeenAt: try row.decode(column: 4)
            )
        }
    }

    // MARK: - Conditions

    /// The window and the scope on a rollup table (`column` its hour).
    private static func conditions(
        _ scope: StatisticsScope, window: StatisticsWindow, perEvse: Bool, column: String, builder: inout QueryBuilder
    ) -> [String] {
        ["\(column) >= \(builder.bind(window.from))", "\(column) < \(builder.bind(window.to))"]
            + scopeConditions(scope, perEvse: perEvse, builder: &builder)
    }

    /// The EVSE, operator and access restriction of `scope`, on a table with `evse_id` and
    /// `operator_id` (per EVSE) or with `operator_key` and `evse_operator_key` (per operator).
    private static func scopeConditions(_ scope: StatisticsScope, perEvse: Bool, builder: inout QueryBuilder) -> [String] {
        var conditions: [String] = []
        let operatorKey = perEvse ? "ledger.operator_key(operator_id)" : "operator_key"
        let evseOperatorKey = perEvse ? "ledger.evse_operator_key(evse_id)" : "evse_operator_key"
        if let evse = scope.evseID { conditions.append("evse_id = \(builder.bind(evse))") }
        if let operatorID = scope.operatorID {
            conditions.append("\(operatorKey) = \(builder.bind(OperatorIdentity.normalized(operatorID: operatorID)))")
        }
        if let operatorIDs = scope.operatorIDs {
            let keys = builder.bind(operatorIDs.map { OperatorIdentity.normalized(operatorID: $0) })
            conditions.append("\(operatorKey) = ANY(\(keys)) AND \(evseOperatorKey) = ANY(\(keys))")
        }
        return conditions
    }
}

public enum StatisticsError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooManyPoints

    public var description: String {
        switch self {
        case .tooManyPoints:
            "the series would have more than \(StatisticsQueries.maxPoints) points: narrow the window, take a larger bucket, or filter"
        }
    }
}
