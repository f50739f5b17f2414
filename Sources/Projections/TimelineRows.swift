import EventStore
import Foundation
import JSON
import Ledger
import OICP
import Postgres

/// Moves the fold's rows and states in and out of a projection schema's tables.
///
/// Rows go in with `COPY … FROM STDIN` (the fastest path, and it runs inside the batch
/// transaction); states are replaced by deleting the touched keys and copying them back.
enum TimelineRows {
    static let sessionColumns = [
        "session_id", "evse_id", "operator_id", "cpo_partner_session_id", "emp_partner_session_id", "status",
        "charging_started", "ended", "start_received", "charging_start_text", "charging_start", "charging_end_text", "charging_end",
        "consumed_energy", "meter_value_start", "error_count", "first_error_at", "last_error_at", "last_error_type",
        "anomaly_count", "event_count", "first_received_at", "last_received_at", "last_position", "open_errors", "abrupt_end",
    ]
    static let sessionEventColumns = [
        "session_id", "seq", "position", "event_id", "event_type", "notification_type", "evse_id", "received_at",
        "occurred_at_text", "occurred_at", "error_type", "error_additional_info", "phase", "anomalies", "details",
    ]
    static let errorColumns = [
        "position", "event_id", "evse_id", "operator_id", "session_id", "session_seq", "error_type",
        "error_additional_info", "received_at", "phase",
    ]
    static let evseColumns = [
        "evse_id", "operator_id", "error_counts", "error_count", "first_error_at", "last_error_at", "sessions",
        "sessions_with_errors", "last_session_id", "last_session_status", "last_session_received_at",
    ]

    // MARK: - Writing

    /// Copies `items` into `schema.table`, one row each as `write` puts it.
    static func copy<Item>(
        _ items: some Collection<Item>, into table: String, columns: [String], schema: String, on session: PostgresSession,
        as write: (Item, inout CopyWriter) throws(PostgresError) -> Void
    ) throws {
        guard !items.isEmpty else { return }
        try session.copyIn("COPY \(schema).\(table) (\(columns.joined(separator: ", "))) FROM STDIN") { writer in
            for item in items { try write(item, &writer) }
        }
    }

    /// A session state's row, in `sessionColumns` order.
    static func write(_ state: SessionState, to row: inout some RowWriter) throws(PostgresError) {
        row.text(state.sessionID)
        row.text(state.evseID)
        row.text(state.operatorID)
        row.text(state.cpoPartnerSessionID)
        row.text(state.empPartnerSessionID)
        row.text(state.status.rawValue)
        row.flag(state.chargingStarted)
        row.flag(state.ended)
        row.flag(state.startReceived)
        row.text(state.chargingStart?.text)
        row.text(state.chargingStart?.text)
        row.text(state.chargingEnd?.text)
        row.text(state.chargingEnd?.text)
        row.text(state.consumedEnergy?.text)
        row.text(state.meterValueStart?.text)
        row.integer(state.errorCount)
        row.text(state.firstErrorAt?.text)
        row.text(state.lastErrorAt?.text)
        row.text(state.lastErrorType)
        row.integer(state.anomalyCount)
        row.integer(state.eventCount)
        row.text(state.firstReceivedAt.text)
        row.text(state.lastReceivedAt.text)
        row.integer(state.lastPosition)
        row.text(state.openErrors.isEmpty ? "{}" : "{" + state.openErrors.map(String.init).joined(separator: ",") + "}")
        row.flag(state.abruptEnd)
        try row.endRow()
    }

    /// A session timeline entry's row, in `sessionEventColumns` order.
    static func write(_ entry: TimelineEntry, to row: inout some RowWriter) throws(PostgresError) {
        row.text(entry.sessionID)
        row.integer(entry.seq)
        row.integer(entry.position)
        row.uuid(entry.eventID)
        row.text(entry.eventType)
        row.text(entry.notificationType)
        row.text(entry.evseID)
        row.text(entry.receivedAt.text)
        row.text(entry.occurredAt?.text)
        row.text(entry.occurredAt?.text)
        row.text(entry.errorType)
        row.text(entry.errorAdditionalInfo)
        row.text(entry.phase?.rawValue)
        row.json(entry.anomalies)
        row.json(entry.details)
        try row.endRow()
    }

    /// An EVSE error timeline entry's row, in `errorColumns` order.
    static func write(_ entry: ErrorEntry, to row: inout some RowWriter) throws(PostgresError) {
        row.integer(entry.position)
        row.uuid(entry.eventID)
        row.text(entry.evseID)
        row.text(entry.operatorID)
        row.text(entry.sessionID)
        row.integer(entry.sessionSeq)
        row.text(entry.errorType)
        row.text(entry.errorAdditionalInfo)
        row.text(entry.receivedAt.text)
        row.text(entry.phase.rawValue)
        try row.endRow()
    }

    /// An EVSE summary's row, in `evseColumns` order.
    static func write(_ summary: EvseSummary, to row: inout some RowWriter) throws(PostgresError) {
        let counts = JSONValue.object(
            JSONObject(summary.errorCounts.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.number(String($0.value))) })
        )
        row.text(summary.evseID)
        row.text(summary.operatorID)
        row.json(counts.serialized())
        row.integer(summary.errorCount)
        row.text(summary.firstErrorAt?.text)
        row.text(summary.lastErrorAt?.text)
        row.integer(summary.sessions)
        row.integer(summary.sessionsWithErrors)
        row.text(summary.lastSessionID)
        row.text(summary.lastSessionStatus?.rawValue)
        row.text(summary.lastSessionReceivedAt?.text)
        try row.endRow()
    }

    /// Rows as an array of the table's row type (`RecordArray`), for `unnest($n::text::schema.table[])`.
    static func records<Item>(
        _ items: some Sequence<Item>, columns: [String], as write: (Item, inout RecordArray) throws(PostgresError) -> Void
    ) throws(PostgresError) -> String {
        var records = RecordArray(columns: columns.count)
        for item in items { try write(item, &records) }
        return records.literal
    }

    /// Binds the states of the sessions `changes` touched, for `write`.
    static func bindStates(
        _ changes: TimelineChanges, sessions: [String: SessionState], into statement: inout Subscription.BatchStatement
    ) throws -> String {
        statement.builder.bind(try records(changes.touchedSessions.lazy.compactMap { sessions[$0] }, columns: sessionColumns, as: write))
    }

    /// One batch's rows and state rows for `schema`, as parts of the statement that moves the
    /// subscription's checkpoints (`Subscription.BatchStatement`): each writes only if they all
    /// moved. CTE names start with `prefix`, so several schemas can share the statement.
    ///
    /// State rows are updated in place (`ON CONFLICT DO UPDATE`), which PostgreSQL can do without
    /// touching indexes (HOT) as long as no indexed column changes: they are rewritten by every
    /// batch that touches them, and delete-and-insert would bloat their indexes.
    ///
    /// - Parameter states: the placeholder of the touched sessions' states (`bindStates`), the
    ///   same rows for every schema: bound once for all of them.
    static func write(
        _ changes: TimelineChanges, states: String, evses: [String: EvseSummary],
        projection: TimelineProjection, schema: String, prefix: String, into statement: inout Subscription.BatchStatement
    ) throws {
        let moved = Subscription.BatchStatement.moved
        /// `rows` is the placeholder of an array of `table`'s rows (`records`), bound as text and
        /// cast in the statement: a parameter keeps the type it was prepared with, and a rebuild's
        /// swap drops the table (and its row type) a prepared statement named.
        func insert(_ table: String, columns: [String], rows: String, conflict key: String? = nil) -> String {
            let list = columns.joined(separator: ", ")
            var sql = """
                INSERT INTO \(schema).\(table) (\(list))
                SELECT \(list) FROM unnest(\(rows)::text::\(schema).\(table)[])
                 WHERE \(moved)
                """
            if let key {
                sql += " ON CONFLICT (\(key)) DO UPDATE SET "
                sql += columns.filter { $0 != key }.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
            }
            return sql
        }
        let markedPositions = statement.builder.bind("{" + changes.abruptEnds.map { String($0.position) }.joined(separator: ",") + "}")
        var parts = ["\(prefix)states AS (" + insert("sessions", columns: sessionColumns, rows: states, conflict: "session_id") + ")"]
        if projection.keepsSessionTimeline {
            let timeline = statement.builder.bind(try records(changes.timeline, columns: sessionEventColumns, as: write))
            let markedSessions = statement.builder.bind(changes.abruptEnds.map(\.sessionID))
            parts.append("\(prefix)timeline AS (" + insert("session_events", columns: sessionEventColumns, rows: timeline) + ")")
            parts.append(
                """
                \(prefix)timeline_marks AS (
                    UPDATE \(schema).session_events SET phase = 'abrupt_end'
                     WHERE (session_id, position) IN (SELECT * FROM unnest(\(markedSessions)::text[], \(markedPositions)::bigint[]))
                       AND \(moved))
                """
            )
        }
        if projection.keepsErrorTimeline {
            let errors = statement.builder.bind(try records(changes.errors, columns: errorColumns, as: write))
            let summaries = statement.builder.bind(
                try records(changes.touchedEvses.lazy.compactMap { evses[$0] }, columns: evseColumns, as: write)
            )
            parts.append("\(prefix)errors AS (" + insert("evse_errors", columns: errorColumns, rows: errors) + ")")
            parts.append("\(prefix)summaries AS (" + insert("evse_summary", columns: evseColumns, rows: summaries, conflict: "evse_id") + ")")
            parts.append(
                """
                \(prefix)error_marks AS (
                    UPDATE \(schema).evse_errors SET phase = 'abrupt_end'
                     WHERE position = ANY(\(markedPositions)::bigint[]) AND \(moved))
                """
            )
            parts += StatisticsRollup.deltas(schema: schema, prefix: prefix, errors: errors, marks: markedPositions, states: states)
        }
        statement.parts += parts
    }

    /// Marks errors stored in earlier batches as `abrupt_end`.
    static func markAbruptEnds(_ marks: [AbruptEnd], projection: TimelineProjection, schema: String, on session: PostgresSession) throws {
        guard !marks.isEmpty else { return }
        let positions = "{" + marks.map { String($0.position) }.joined(separator: ",") + "}"
        if projection.keepsSessionTimeline {
            try session.prepared(
                """
                UPDATE \(unsafeRaw: schema).session_events SET phase = 'abrupt_end'
                 WHERE (session_id, position) IN (SELECT * FROM unnest(\(marks.map(\.sessionID))::text[], \(positions)::bigint[]))
                """
            )
        }
        if projection.keepsErrorTimeline {
            try session.prepared(
                "UPDATE \(unsafeRaw: schema).evse_errors SET phase = 'abrupt_end' WHERE position = ANY(\(positions)::bigint[])"
            )
        }
    }

    // MARK: - Reading states

    /// The stored states of `sessionIDs` and (with `evses`) of `evseIDs` and those sessions'
    /// EVSEs, in one statement, as JSON rows.
    static func loadStates(
        sessions sessionIDs: Set<String>, evses evseIDs: Set<String>?, schema: String, on session: PostgresSession
    ) throws -> (sessions: [String: SessionState], evses: [String: EvseSummary]) {
        let ids = Array(sessionIDs)
        let query: PostgresQuery =
            if let evseIDs {
                """
                SELECT 's', row_to_json(t)::text FROM \(unsafeRaw: schema).sessions t WHERE session_id = ANY(\(ids))
                UNION ALL
                SELECT 'e', row_to_json(v)::text FROM \(unsafeRaw: schema).evse_summary v
                 WHERE evse_id = ANY(\(Array(evseIDs))::text[] || ARRAY(SELECT evse_id FROM \(unsafeRaw: schema).sessions WHERE session_id = ANY(\(ids))))
                """
            } else {
                "SELECT 's', row_to_json(t)::text FROM \(unsafeRaw: schema).sessions t WHERE session_id = ANY(\(ids))"
            }
        var sessions: [String: SessionState] = [:]
        var evses: [String: EvseSummary] = [:]
        for row in try session.prepared(query).rows {
            let kind: String = try row.decode(column: 0)
            guard case .object(let object) = try JSONParser.parse(row.result.bytes(row: row.index, column: 1), maxDepth: 8, maxBytes: 1 << 24) else {
                throw PostgresError(code: .protocolViolation, message: "row_to_json returned no object")
            }
            if kind == "s", let state = sessionState(object) { sessions[state.sessionID] = state }
            if kind == "e", let summary = evseSummary(object) { evses[summary.evseID] = summary }
        }
        return (sessions, evses)
    }

    static func sessionState(_ row: JSONObject) -> SessionState? {
        func text(_ key: String) -> String? { row[key]?.stringValue }
        func stamp(_ key: String) -> Timestamp? { text(key).flatMap(Timestamp.init) }
        func energy(_ key: String) -> KilowattHours? { row[key]?.numberText.flatMap(KilowattHours.init) }
        func int(_ key: String) -> Int { row[key]?.numberText.flatMap { Int($0) } ?? 0 }
        guard let id = text("session_id"), let evse = text("evse_id"), let op = text("operator_id"),
            let first = stamp("first_received_at"), let last = stamp("last_received_at")
        else { return nil }
        var state = SessionState(sessionID: id, evseID: evse, operatorID: op, firstReceivedAt: first)
        state.cpoPartnerSessionID = text("cpo_partner_session_id")
        state.empPartnerSessionID = text("emp_partner_session_id")
        state.status = text("status").flatMap(SessionStatus.init(rawValue:)) ?? .authorized
        state.chargingStarted = row["charging_started"]?.boolValue ?? false
        state.ended = row["ended"]?.boolValue ?? false
        state.startReceived = row["start_received"]?.boolValue ?? false
        state.chargingStart = stamp("charging_start_text")
        state.chargingEnd = stamp("charging_end_text")
        state.consumedEnergy = energy("consumed_energy")
        state.meterValueStart = energy("meter_value_start")
        state.errorCount = int("error_count")
        state.firstErrorAt = stamp("first_error_at")
        state.lastErrorAt = stamp("last_error_at")
        state.lastErrorType = text("last_error_type")
        state.anomalyCount = int("anomaly_count")
        state.eventCount = int("event_count")
        state.lastReceivedAt = last
        state.lastPosition = Int64(int("last_position"))
        state.openErrors = row["open_errors"]?.arrayValue?.compactMap { $0.numberText.flatMap { Int64($0) } } ?? []
        state.abruptEnd = row["abrupt_end"]?.boolValue ?? false
        return state
    }

    static func evseSummary(_ row: JSONObject) -> EvseSummary? {
        func text(_ key: String) -> String? { row[key]?.stringValue }
        func stamp(_ key: String) -> Timestamp? { text(key).flatMap(Timestamp.init) }
        guard let id = text("evse_id"), let op = text("operator_id") else { return nil }
        var summary = EvseSummary(evseID: id, operatorID: op)
        for (type, count) in row["error_counts"]?.objectValue ?? JSONObject() {
            summary.errorCounts[type] = count.numberText.flatMap { Int($0) } ?? 0
        }
        summary.firstErrorAt = stamp("first_error_at")
        summary.lastErrorAt = stamp("last_error_at")
        summary.sessions = row["sessions"]?.numberText.flatMap { Int($0) } ?? 0
        summary.sessionsWithErrors = row["sessions_with_errors"]?.numberText.flatMap { Int($0) } ?? 0
        summary.lastSessionID = text("last_session_id")
        summary.lastSessionStatus = text("last_session_status").flatMap(SessionStatus.init(rawValue:))
        summary.lastSessionReceivedAt = stamp("last_session_received_at")
        return summary
    }
}
