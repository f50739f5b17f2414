import Foundation
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
        "anomaly_count", "event_count", "first_received_at", "last_received_at", "last_position", "open_errors",
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

    static func copy(
        _ rows: some Collection<[String?]>, into table: String, columns: [String], schema: String, on session: PostgresSession
    ) throws {
        guard !rows.isEmpty else { return }
        try session.copyIn("COPY \(schema).\(table) (\(columns.joined(separator: ", "))) FROM STDIN") { writer in
            for row in rows { try writer.writeRow(row) }
        }
    }

    static func row(_ state: SessionState) -> [String?] {
        [
            state.sessionID, state.evseID, state.operatorID, state.cpoPartnerSessionID, state.empPartnerSessionID,
            state.status.rawValue, state.chargingStarted ? "t" : "f", state.ended ? "t" : "f", state.startReceived ? "t" : "f",
            state.chargingStart?.text, state.chargingStart?.text, state.chargingEnd?.text, state.chargingEnd?.text,
            state.consumedEnergy?.text, state.meterValueStart?.text, String(state.errorCount), state.firstErrorAt?.text,
            state.lastErrorAt?.text, state.lastErrorType, String(state.anomalyCount), String(state.eventCount),
            state.firstReceivedAt.text, state.lastReceivedAt.text, String(state.lastPosition),
            "{" + state.openErrors.map(String.init).joined(separator: ",") + "}",
        ]
    }

    static func row(_ entry: TimelineEntry) -> [String?] {
        [
            entry.sessionID, String(entry.seq), String(entry.position), entry.eventID.uuidString.lowercased(),
            entry.eventType, entry.notificationType, entry.evseID, entry.receivedAt.text, entry.occurredAt?.text,
            entry.occurredAt?.text, entry.errorType, entry.errorAdditionalInfo, entry.phase?.rawValue, entry.anomalies,
            entry.details,
        ]
    }

    static func row(_ entry: ErrorEntry) -> [String?] {
        [
            String(entry.position), entry.eventID.uuidString.lowercased(), entry.evseID, entry.operatorID,
            entry.sessionID, String(entry.sessionSeq), entry.errorType, entry.errorAdditionalInfo,
            entry.receivedAt.text, entry.phase.rawValue,
        ]
    }

    static func row(_ summary: EvseSummary) -> [String?] {
        let counts = JSONValue.object(
            JSONObject(summary.errorCounts.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.number(String($0.value))) })
        )
        return [
            summary.evseID, summary.operatorID, counts.serialized(), String(summary.errorCount),
            summary.firstErrorAt?.text, summary.lastErrorAt?.text, String(summary.sessions),
            String(summary.sessionsWithErrors), summary.lastSessionID, summary.lastSessionStatus?.rawValue,
            summary.lastSessionReceivedAt?.text,
        ]
    }

    /// Replaces the stored states of `keys` with `values`.
    static func replace(
        sessions keys: some Collection<String>, with states: [String: SessionState], schema: String,
        on session: PostgresSession
    ) throws {
        guard !keys.isEmpty else { return }
        try session.query("DELETE FROM \(unsafeRaw: schema).sessions WHERE session_id = ANY(\(Array(keys)))")
        try copy(keys.compactMap { states[$0].map(row) }, into: "sessions", columns: sessionColumns, schema: schema, on: session)
    }

    static func replace(
        evses keys: some Collection<String>, with summaries: [String: EvseSummary], schema: String,
        on session: PostgresSession
    ) throws {
        guard !keys.isEmpty else { return }
        try session.query("DELETE FROM \(unsafeRaw: schema).evse_summary WHERE evse_id = ANY(\(Array(keys)))")
        try copy(keys.compactMap { summaries[$0].map(row) }, into: "evse_summary", columns: evseColumns, schema: schema, on: session)
    }

    /// Marks errors stored in earlier batches as `abrupt_end`.
    static func markAbruptEnds(_ marks: [AbruptEnd], projection: TimelineProjection, schema: String, on session: PostgresSession) throws {
        guard !marks.isEmpty else { return }
        let positions = "{" + marks.map { String($0.position) }.joined(separator: ",") + "}"
        if projection.keepsSessionTimeline {
            try session.query(
                """
                UPDATE \(unsafeRaw: schema).session_events SET phase = 'abrupt_end'
                 WHERE (session_id, position) IN (SELECT * FROM unnest(\(marks.map(\.sessionID))::text[], \(positions)::bigint[]))
                """
            )
        }
        if projection.keepsErrorTimeline {
            try session.query(
                "UPDATE \(unsafeRaw: schema).evse_errors SET phase = 'abrupt_end' WHERE position = ANY(\(positions)::bigint[])"
            )
        }
    }

    // MARK: - Reading states

    /// `timestamptz` as epoch milliseconds, for a round trip into `Timestamp`.
    private static func millis(_ column: String) -> String { "(extract(epoch FROM \(column)) * 1000)::int8" }

    static func loadSessions(_ ids: some Collection<String>, schema: String, on session: PostgresSession) throws -> [String: SessionState] {
        guard !ids.isEmpty else { return [:] }
        let columns = [
            "session_id", "evse_id", "operator_id", "cpo_partner_session_id", "emp_partner_session_id", "status",
            "charging_started", "ended", "charging_start_text", "charging_end_text", "consumed_energy::text",
            "meter_value_start::text", "error_count", millis("first_error_at"), millis("last_error_at"), "last_error_type",
            "anomaly_count", "event_count", millis("first_received_at"), millis("last_received_at"), "last_position",
            "open_errors::text", "start_received",
        ].joined(separator: ", ")
        let result = try session.query(
            "SELECT \(unsafeRaw: columns) FROM \(unsafeRaw: schema).sessions WHERE session_id = ANY(\(Array(ids)))"
        )
        var states: [String: SessionState] = [:]
        for row in result.rows {
            var state = SessionState(
                sessionID: try row.decode(column: 0), evseID: try row.decode(column: 1), operatorID: try row.decode(column: 2),
                firstReceivedAt: Timestamp(epochMilliseconds: try row.decode(column: 18))
            )
            state.cpoPartnerSessionID = try row.decode(String?.self, column: 3)
            state.empPartnerSessionID = try row.decode(String?.self, column: 4)
            state.status = SessionStatus(rawValue: try row.decode(column: 5)) ?? .authorized
            state.chargingStarted = try row.decode(column: 6)
            state.ended = try row.decode(column: 7)
            state.chargingStart = try row.decode(String?.self, column: 8).flatMap(Timestamp.init)
            state.chargingEnd = try row.decode(String?.self, column: 9).flatMap(Timestamp.init)
            state.consumedEnergy = try row.decode(String?.self, column: 10).flatMap(KilowattHours.init)
            state.meterValueStart = try row.decode(String?.self, column: 11).flatMap(KilowattHours.init)
            state.errorCount = try row.decode(column: 12)
            state.firstErrorAt = try row.decode(Int64?.self, column: 13).map { Timestamp(epochMilliseconds: $0) }
            state.lastErrorAt = try row.decode(Int64?.self, column: 14).map { Timestamp(epochMilliseconds: $0) }
            state.lastErrorType = try row.decode(String?.self, column: 15)
            state.anomalyCount = try row.decode(column: 16)
            state.eventCount = try row.decode(column: 17)
            state.lastReceivedAt = Timestamp(epochMilliseconds: try row.decode(column: 19))
            state.lastPosition = try row.decode(column: 20)
            state.openErrors = parseBigintArray(try row.decode(column: 21))
            state.startReceived = try row.decode(column: 22)
            states[state.sessionID] = state
        }
        return states
    }

    static func loadEvses(_ ids: some Collection<String>, schema: String, on session: PostgresSession) throws -> [String: EvseSummary] {
        guard !ids.isEmpty else { return [:] }
        let columns = [
            "evse_id", "operator_id", "error_counts::text", millis("first_error_at"), millis("last_error_at"), "sessions",
            "sessions_with_errors", "last_session_id", "last_session_status", millis("last_session_received_at"),
        ].joined(separator: ", ")
        let result = try session.query(
            "SELECT \(unsafeRaw: columns) FROM \(unsafeRaw: schema).evse_summary WHERE evse_id = ANY(\(Array(ids)))"
        )
        var summaries: [String: EvseSummary] = [:]
        for row in result.rows {
            var summary = EvseSummary(evseID: try row.decode(column: 0), operatorID: try row.decode(column: 1))
            summary.errorCounts = parseCounts(try row.decode(column: 2))
            summary.firstErrorAt = try row.decode(Int64?.self, column: 3).map { Timestamp(epochMilliseconds: $0) }
            summary.lastErrorAt = try row.decode(Int64?.self, column: 4).map { Timestamp(epochMilliseconds: $0) }
            summary.sessions = try row.decode(column: 5)
            summary.sessionsWithErrors = try row.decode(column: 6)
            summary.lastSessionID = try row.decode(String?.self, column: 7)
            summary.lastSessionStatus = try row.decode(String?.self, column: 8).flatMap(SessionStatus.init(rawValue:))
            summary.lastSessionReceivedAt = try row.decode(Int64?.self, column: 9).map { Timestamp(epochMilliseconds: $0) }
            summaries[summary.evseID] = summary
        }
        return summaries
    }

    static func parseBigintArray(_ text: String) -> [Int64] {
        text.trimmingCharacters(in: CharacterSet(charactersIn: "{}")).split(separator: ",").compactMap { Int64($0) }
    }

    static func parseCounts(_ text: String) -> [String: Int] {
        guard case .object(let object)? = try? JSONParser.parse(Array(text.utf8), maxDepth: 4, maxBytes: 1 << 20) else { return [:] }
        var counts: [String: Int] = [:]
        for (key, value) in object { counts[key] = value.numberText.flatMap { Int($0) } ?? 0 }
        return counts
    }
}
