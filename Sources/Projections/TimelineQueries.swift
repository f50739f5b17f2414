public import EventStore
public import Foundation
import Ledger
import OICP
import Postgres

/// The read side of the timelines: typed queries over the projections, for the CLI and the
/// REST API. Every list is keyset-paginated (no OFFSET): a page's `next` cursor continues after
/// its last row, so rows added meanwhile never shift or repeat what a reader pages through.
///
/// Each query is one statement, so it reads one consistent snapshot of one projection even
/// while a rebuild swaps it.
public struct TimelineQueries: Sendable {
    /// The most rows one page returns, whatever the caller asks for.
    public static let maxLimit = 1000
    public static let defaultLimit = 100

    private let store: EventStore

    public init(store: EventStore) {
        self.store = store
    }

    // MARK: - Sessions

    /// A session's summary, or nil when the ledger has no lifecycle event for it.
    public func session(_ sessionID: String) async throws -> SessionSummary? {
        let query: PostgresQuery = """
            SELECT \(unsafeRaw: SessionSummary.columns) FROM projection_sessions.sessions WHERE session_id = \(sessionID)
            """
        return try await store.pool.prepared(query).rows.first.map(SessionSummary.init)
    }

    /// A session's timeline in the order the ledger applied its events, from after `afterSeq`.
    public func sessionTimeline(_ sessionID: String, after afterSeq: Int = 0, limit: Int = defaultLimit) async throws -> Page<TimelineItem> {
        let limit = Self.clamp(limit)
        let query: PostgresQuery = """
            SELECT \(unsafeRaw: TimelineItem.columns) FROM projection_sessions.session_events
             WHERE session_id = \(sessionID) AND seq > \(afterSeq)
             ORDER BY seq LIMIT \(limit + 1)
            """
        let items = try await store.pool.prepared(query).rows.map(TimelineItem.init)
        return Page(items, limit: limit) { String($0.seq) }
    }

    // MARK: - Errors

    /// Errors at one EVSE, newest first (by received-at), filtered by `filter`.
    public func evseErrors(_ evseID: String, filter: ErrorFilter = .init(), after cursor: String? = nil, limit: Int = defaultLimit)
        async throws -> Page<ErrorItem>
    {
        var filter = filter
        filter.evseID = evseID
        return try await errors(filter, after: cursor, limit: limit)
    }

    /// Throws `QueryError.badCursor` unless `cursor` is one an error list hands out.
    public static func checkErrorCursor(_ cursor: String) throws {
        _ = try ErrorCursor(parsing: cursor)
    }

    /// The fleet error feed: errors across EVSEs, newest first, filtered by `filter`.
    public func errors(_ filter: ErrorFilter = .init(), after cursor: String? = nil, limit: Int = defaultLimit) async throws -> Page<ErrorItem> {
        let limit = Self.clamp(limit)
        let after = try cursor.map(ErrorCursor.init(parsing:))
        // Only the conditions the filter has, so the planner sees a plain keyset query and picks
        // the index that leads with the given filter (EVSE, operator, or time alone).
        var builder = QueryBuilder()
        var conditions: [String] = []
        if let evse = filter.evseID { conditions.append("evse_id = \(builder.bind(evse))") }
        if let operatorID = filter.operatorID {
            conditions.append("ledger.operator_key(operator_id) = \(builder.bind(OperatorIdentity.normalized(operatorID: operatorID)))")
        }
        if let operatorIDs = filter.operatorIDs {
            let keys = builder.bind(operatorIDs.map { OperatorIdentity.normalized(operatorID: $0) })
            conditions.append("ledger.operator_key(operator_id) = ANY(\(keys)) AND ledger.evse_operator_key(evse_id) = ANY(\(keys))")
        }
        if !filter.errorTypes.isEmpty { conditions.append("error_type = ANY(\(builder.bind(filter.errorTypes)))") }
        if let from = filter.from { conditions.append("received_at >= \(builder.bind(from))") }
        if let to = filter.to { conditions.append("received_at < \(builder.bind(to))") }
        if let after {
            conditions.append(
                "(received_at, position) < ('epoch'::timestamptz + \(builder.bind(after.receivedAtMicros))::int8 * interval '1 microsecond', \(builder.bind(after.position)))"
            )
        }
        let limitPlaceholder = builder.bind(limit + 1)
        let query = builder.query(
            """
            SELECT \(ErrorItem.columns) FROM projection_evse_errors.evse_errors
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY received_at DESC, position DESC LIMIT \(limitPlaceholder)
            """
        )
        let items = try await store.pool.prepared(query).rows.map(ErrorItem.init)
        return Page(items, limit: limit) { ErrorCursor(receivedAtMicros: $0.receivedAtMicros, position: $0.position).description }
    }

    /// The EVSEs with the most errors in `[from, to)`, optionally only errors whose OperatorID
    /// and EVSE operator are both among `operatorIDs` (compared as OICP compares them).
    public func topEvses(from: Date, to: Date, operatorIDs: [String]? = nil, limit: Int = 10) async throws -> [EvseErrorCount] {
        let keys = operatorIDs.map { $0.map { OperatorIdentity.normalized(operatorID: $0) } }
        let query: PostgresQuery = """
            SELECT evse_id, min(operator_id), count(*),
                   count(*) FILTER (WHERE error_type = 'ConnectorError'), count(*) FILTER (WHERE error_type = 'CriticalError'),
                   max(received_at)
              FROM projection_evse_errors.evse_errors
             WHERE received_at >= \(from) AND received_at < \(to)
               AND (\(keys)::text[] IS NULL OR (ledger.operator_key(operator_id) = ANY(\(keys)) AND ledger.evse_operator_key(evse_id) = ANY(\(keys))))
             GROUP BY evse_id
             ORDER BY count(*) DESC, evse_id
             LIMIT \(Self.clamp(limit))
            """
        return try await store.pool.prepared(query).rows.map { row in
            EvseErrorCount(
                evseID: try row.decode(column: 0), operatorID: try row.decode(column: 1), errors: try row.decode(column: 2),
                connectorErrors: try row.decode(column: 3), criticalErrors: try row.decode(column: 4),
                lastErrorAt: try row.decode(column: 5)
            )
        }
    }

    // MARK: - EVSE summary

    /// Whether the ledger has seen the EVSE (for 404s; who may see it is read from its id).
    public func evseExists(_ evseID: String) async throws -> Bool {
        let query: PostgresQuery = "SELECT 1 FROM projection_evse_errors.evse_summary WHERE evse_id = \(evseID)"
        return try await !store.pool.prepared(query).rows.isEmpty
    }

    /// One EVSE's summary, with error counts over the 24 h, 7 d and 30 d before `now`.
    public func evseSummary(_ evseID: String, now: Date = Date()) async throws -> EvseSummaryView? {
        let query: PostgresQuery = """
            SELECT s.evse_id, s.operator_id, s.error_counts::text, s.error_count, s.first_error_at, s.last_error_at,
                   s.sessions, s.sessions_with_errors, s.last_session_id, s.last_session_status, s.last_session_received_at,
                   (SELECT coalesce(jsonb_object_agg(w.error_type, jsonb_build_array(w.day, w.week, w.month)), '{}')::text
                      FROM (SELECT error_type,
                                   count(*) FILTER (WHERE received_at >= \(now)::timestamptz - interval '24 hours') AS day,
                                   count(*) FILTER (WHERE received_at >= \(now)::timestamptz - interval '7 days') AS week,
                                   count(*) AS month
                              FROM projection_evse_errors.evse_errors
                             WHERE evse_id = s.evse_id AND received_at >= \(now)::timestamptz - interval '30 days'
                               AND received_at <= \(now)
                             GROUP BY error_type) w)
              FROM projection_evse_errors.evse_summary s
             WHERE s.evse_id = \(evseID)
            """
        return try await store.pool.prepared(query).rows.first.map(EvseSummaryView.init)
    }

    static func clamp(_ limit: Int) -> Int { min(max(limit, 1), maxLimit) }
}

/// Filters of the error lists. Empty fields do not filter.
public struct ErrorFilter: Sendable, Hashable {
    public var evseID: String?
    public var operatorID: String?
    /// Only these operators' errors (an access restriction); nil for all. An empty list matches
    /// nothing.
    public var operatorIDs: [String]?
    /// `ErrorType` values; empty is all.
    public var errorTypes: [String]
    /// Received at or after.
    public var from: Date?
    /// Received before.
    public var to: Date?

    public init(
        evseID: String? = nil, operatorID: String? = nil, operatorIDs: [String]? = nil, errorTypes: [String] = [], from: Date? = nil, to: Date? = nil
    ) {
        self.evseID = evseID
        self.operatorID = operatorID
        self.operatorIDs = operatorIDs
        self.errorTypes = errorTypes
        self.from = from
        self.to = to
    }
}

public enum QueryError: Error, Sendable, Equatable, CustomStringConvertible {
    case badCursor(String)

    public var description: String {
        switch self {
        case .badCursor(let cursor): "cursor \"\(cursor)\" is not one this list handed out"
        }
    }
}

/// Where an error list continues: the received-at (in microseconds) and position of the last
/// row of the previous page. Text form `<microseconds>-<position>`.
struct ErrorCursor: CustomStringConvertible {
    var receivedAtMicros: Int64
    var position: Int64

    init(receivedAtMicros: Int64, position: Int64) {
        self.receivedAtMicros = receivedAtMicros
        self.position = position
    }

    init(parsing text: String) throws {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let micros = plainDecimal(parts[0], as: Int64.self), Self.micros.contains(micros),
            let position = plainDecimal(parts[1], as: Int64.self), position > 0
        else {
            throw QueryError.badCursor(text)
        }
        self.init(receivedAtMicros: micros, position: position)
    }

    var description: String { "\(receivedAtMicros)-\(position)" }

    /// Microseconds since 1970 up to the end of year 9999: PostgreSQL turns the cursor into a
    /// timestamptz, and a larger value is an SQL error (22008), not an empty page.
    static let micros: ClosedRange<Int64> = 0...253_402_300_799_999_999
}

/// One page of a list, and the cursor of the next page (nil on the last page).
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var next: String?

    /// Takes a result fetched with `limit + 1` rows: the extra row only says there is more.
    init(_ fetched: [Item], limit: Int, cursor: (Item) -> String) {
        if fetched.count > limit {
            items = Array(fetched.prefix(limit))
            next = items.last.map(cursor)
        } else {
            items = fetched
            next = nil
        }
    }
}
