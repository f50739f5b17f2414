public import Foundation
import Ledger
import OICP
import Postgres

/// A value in a read-model row, as the CLI and the API render it.
public enum FieldValue: Sendable, Hashable {
    case null
    case string(String)
    case integer(Int64)
    case bool(Bool)
    case date(Date)
    /// JSON text, embedded as is in JSON output.
    case json(String)

    /// The value as one line of text (tables, CSV).
    public var text: String {
        switch self {
        case .null: ""
        case .string(let value): value
        case .integer(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        case .date(let value): rfc3339(value)
        case .json(let value): value
        }
    }

    /// Appends the value as JSON.
    public func writeJSON(to output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .string(let value): JSONValue.writeString(value, to: &output)
        case .integer(let value): output.append(contentsOf: String(value).utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .date(let value): JSONValue.writeString(rfc3339(value), to: &output)
        case .json(let value): output.append(contentsOf: value.utf8)
        }
    }

    /// The value as JSON.
    public var json: String {
        switch self {
        case .null: "null"
        case .string(let value): JSONValue.string(value).serialized()
        case .integer(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        case .date(let value): JSONValue.string(rfc3339(value)).serialized()
        case .json(let value): value
        }
    }
}

extension Optional where Wrapped == String {
    var field: FieldValue { map(FieldValue.string) ?? .null }
}

extension Optional where Wrapped == Date {
    var field: FieldValue { map(FieldValue.date) ?? .null }
}

/// A row of a read model, as named fields in a fixed order.
public protocol ReadModelRecord: Sendable {
    var fields: [(name: String, value: FieldValue)] { get }
}

extension ReadModelRecord {
    /// The record as a JSON object, fields in order.
    public var json: String {
        var output: [UInt8] = []
        writeJSON(to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends the record as a JSON object, fields in order (pages of them are written into one
    /// buffer).
    public func writeJSON(to output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        for (index, field) in fields.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONValue.writeString(field.name, to: &output)
            output.append(UInt8(ascii: ":"))
            field.value.writeJSON(to: &output)
        }
        output.append(UInt8(ascii: "}"))
    }

    /// The record as an RFC 4180 line (CRLF-terminated) of the fields `columns` names, in that
    /// order; a missing field is empty.
    public func csvLine(_ columns: [String]) -> String {
        let values = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        return CSV.line(columns.map { values[$0]?.text ?? "" })
    }
}

/// A record of a list, whose field names are known without a row (CSV headers of exports).
public protocol ListRecord: ReadModelRecord {
    /// The names `fields` has, in its order.
    static var fieldNames: [String] { get }
}

/// RFC 4180 text.
public enum CSV {
    /// One line of fields, each quoted where it has to be, ending in CRLF.
    public static func line(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\r\n"
    }

    /// A field, quoted (with quotes doubled) when it holds a comma, quote, CR or LF.
    public static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// A session's summary.
public struct SessionSummary: ReadModelRecord, Hashable {
    public var sessionID: String
    public var evseID: String
    public var operatorID: String
    public var cpoPartnerSessionID: String?
    public var empPartnerSessionID: String?
    public var status: String
    /// As sent, with its offset.
    public var chargingStart: String?
    public var chargingEnd: String?
    /// kWh.
    public var consumedEnergy: String?
    public var errorCount: Int64
    public var firstErrorAt: Date?
    public var lastErrorAt: Date?
    public var lastErrorType: String?
    public var anomalyCount: Int64
    public var eventCount: Int64
    public var firstReceivedAt: Date
    public var lastReceivedAt: Date

    static let columns = """
        session_id, evse_id, operator_id, cpo_partner_session_id, emp_partner_session_id, status, charging_start_text,
        charging_end_text, consumed_energy::text, error_count, first_error_at, last_error_at, last_error_type,
        anomaly_count, event_count, first_received_at, last_received_at
        """

    init(_ row: PostgresResult.Row) throws {
        sessionID = try row.decode(column: 0)
        evseID = try row.decode(column: 1)
        operatorID = try row.decode(column: 2)
        cpoPartnerSessionID = try row.decode(String?.self, column: 3)
        empPartnerSessionID = try row.decode(String?.self, column: 4)
        status = try row.decode(column: 5)
        chargingStart = try row.decode(String?.self, column: 6)
        chargingEnd = try row.decode(String?.self, column: 7)
        consumedEnergy = try row.decode(String?.self, column: 8)
        errorCount = try row.decode(column: 9)
        firstErrorAt = try row.decode(Date?.self, column: 10)
        lastErrorAt = try row.decode(Date?.self, column: 11)
        lastErrorType = try row.decode(String?.self, column: 12)
        anomalyCount = try row.decode(column: 13)
        eventCount = try row.decode(column: 14)
        firstReceivedAt = try row.decode(column: 15)
        lastReceivedAt = try row.decode(column: 16)
    }

    public var fields: [(name: String, value: FieldValue)] {
        [
            ("session_id", .string(sessionID)), ("evse_id", .string(evseID)), ("operator_id", .string(operatorID)),
            ("cpo_partner_session_id", cpoPartnerSessionID.field), ("emp_partner_session_id", empPartnerSessionID.field),
            ("status", .string(status)), ("charging_start", chargingStart.field), ("charging_end", chargingEnd.field),
            ("consumed_energy_kwh", consumedEnergy.map { .json($0) } ?? .null), ("error_count", .integer(errorCount)),
            ("first_error_at", firstErrorAt.field), ("last_error_at", lastErrorAt.field),
            ("last_error_type", lastErrorType.field), ("anomaly_count", .integer(anomalyCount)),
            ("event_count", .integer(eventCount)), ("first_received_at", .date(firstReceivedAt)),
            ("last_received_at", .date(lastReceivedAt)),
        ]
    }
}

/// One entry of a session timeline.
public struct TimelineItem: ListRecord, Hashable {
    public static let fieldNames = [
        "seq", "position", "event_id", "event_type", "notification_type", "evse_id", "received_at", "occurred_at", "error_type",
        "error_additional_info", "phase", "anomalies", "details",
    ]

    public var seq: Int
    public var position: Int64
    public var eventID: UUID
    public var eventType: String
    public var notificationType: String
    public var evseID: String
    public var receivedAt: Date
    /// The OICP timestamp the notification carries, as sent.
    public var occurredAt: String?
    public var errorType: String?
    public var errorAdditionalInfo: String?
    public var phase: String?
    /// JSON array of `{code, message}`.
    public var anomalies: String
    /// JSON object of the notification's other figures.
    public var details: String

    static let columns = """
        seq, position, event_id, event_type, notification_type, evse_id, received_at, occurred_at_text, error_type,
        error_additional_info, phase, anomalies::text, details::text
        """

    init(_ row: PostgresResult.Row) throws {
        seq = try row.decode(column: 0)
        position = try row.decode(column: 1)
        eventID = try row.decode(column: 2)
        eventType = try row.decode(column: 3)
        notificationType = try row.decode(column: 4)
        evseID = try row.decode(column: 5)
        receivedAt = try row.decode(column: 6)
        occurredAt = try row.decode(String?.self, column: 7)
        errorType = try row.decode(String?.self, column: 8)
        errorAdditionalInfo = try row.decode(String?.self, column: 9)
        phase = try row.decode(String?.self, column: 10)
        anomalies = try row.decode(column: 11)
        details = try row.decode(column: 12)
    }

    public var fields: [(name: String, value: FieldValue)] {
        [
            ("seq", .integer(Int64(seq))), ("position", .integer(position)), ("event_id", .string(eventID.uuidString.lowercased())),
            ("event_type", .string(eventType)), ("notification_type", .string(notificationType)), ("evse_id", .string(evseID)),
            ("received_at", .date(receivedAt)), ("occurred_at", occurredAt.field), ("error_type", errorType.field),
            ("error_additional_info", errorAdditionalInfo.field), ("phase", phase.field), ("anomalies", .json(anomalies)),
            ("details", .json(details)),
        ]
    }
}

/// One error in an EVSE timeline or the fleet feed.
public struct ErrorItem: ListRecord, Hashable {
    public static let fieldNames = [
        "position", "received_at", "evse_id", "operator_id", "error_type", "error_additional_info", "session_id", "session_seq",
        "phase", "event_id",
    ]

    public var position: Int64
    public var eventID: UUID
    public var receivedAt: Date
    public var evseID: String
    public var operatorID: String
    public var errorType: String
    public var errorAdditionalInfo: String?
    public var sessionID: String
    /// The error's entry in its session's timeline.
    public var sessionSeq: Int
    /// What the session was doing when the error was reported.
    public var phase: String
    /// `receivedAt` exactly, for the page cursor.
    let receivedAtMicros: Int64

    static let columns = """
        position, event_id, received_at, evse_id, operator_id, error_type, error_additional_info, session_id, session_seq,
        phase, (extract(epoch FROM received_at) * 1000000)::int8
        """

    init(_ row: PostgresResult.Row) throws {
        position = try row.decode(column: 0)
        eventID = try row.decode(column: 1)
        receivedAt = try row.decode(column: 2)
        evseID = try row.decode(column: 3)
        operatorID = try row.decode(column: 4)
        errorType = try row.decode(column: 5)
        errorAdditionalInfo = try row.decode(String?.self, column: 6)
        sessionID = try row.decode(column: 7)
        sessionSeq = try row.decode(column: 8)
        phase = try row.decode(column: 9)
        receivedAtMicros = try row.decode(column: 10)
    }

    public var fields: [(name: String, value: FieldValue)] {
        [
            ("position", .integer(position)), ("received_at", .date(receivedAt)), ("evse_id", .string(evseID)),
            ("operator_id", .string(operatorID)), ("error_type", .string(errorType)),
            ("error_additional_info", errorAdditionalInfo.field), ("session_id", .string(sessionID)),
            ("session_seq", .integer(Int64(sessionSeq))), ("phase", .string(phase)),
            ("event_id", .string(eventID.uuidString.lowercased())),
        ]
    }
}

/// An EVSE's summary, with error counts over recent windows.
public struct EvseSummaryView: ReadModelRecord, Hashable {
    public struct WindowCounts: Sendable, Hashable {
        public var last24Hours: Int64
        public var last7Days: Int64
        public var last30Days: Int64
    }

    public var evseID: String
    public var operatorID: String
    /// All-time errors per `ErrorType`.
    public var errorCounts: [String: Int64]
    public var errorCount: Int64
    /// Errors per `ErrorType` over the windows before the query's `now`.
    public var recent: [String: WindowCounts]
    public var firstErrorAt: Date?
    public var lastErrorAt: Date?
    public var sessions: Int64
    public var sessionsWithErrors: Int64
    public var lastSessionID: String?
    public var lastSessionStatus: String?
    public var lastSessionReceivedAt: Date?

    /// Sessions with an error over all sessions at this EVSE (0 when it had none).
    public var errorRate: Double { sessions == 0 ? 0 : Double(sessionsWithErrors) / Double(sessions) }

    init(_ row: PostgresResult.Row) throws {
        evseID = try row.decode(column: 0)
        operatorID = try row.decode(column: 1)
        errorCounts = Self.object(try row.decode(column: 2)).compactMapValues { $0.numberText.flatMap { Int64($0) } }
        errorCount = try row.decode(column: 3)
        firstErrorAt = try row.decode(Date?.self, column: 4)
        lastErrorAt = try row.decode(Date?.self, column: 5)
        sessions = try row.decode(column: 6)
        sessionsWithErrors = try row.decode(column: 7)
        lastSessionID = try row.decode(String?.self, column: 8)
        lastSessionStatus = try row.decode(String?.self, column: 9)
        lastSessionReceivedAt = try row.decode(Date?.self, column: 10)
        recent = Self.object(try row.decode(column: 11)).compactMapValues { value in
            guard let counts = value.arrayValue?.compactMap({ $0.numberText.flatMap { Int64($0) } }), counts.count == 3 else { return nil }
            return WindowCounts(last24Hours: counts[0], last7Days: counts[1], last30Days: counts[2])
        }
    }

    private static func object(_ text: String) -> [String: JSONValue] {
        guard case .object(let object)? = try? JSONParser.parse(Array(text.utf8), maxDepth: 4, maxBytes: 1 << 20) else { return [:] }
        return Dictionary(object.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
    }

    public var fields: [(name: String, value: FieldValue)] {
        let types = Set(errorCounts.keys).union(recent.keys).sorted()
        let counts = "{" + types.map { JSONValue.string($0).serialized() + ":" + String(errorCounts[$0] ?? 0) }.joined(separator: ",") + "}"
        let windows = "{" + types.map { type in
            let window = recent[type] ?? WindowCounts(last24Hours: 0, last7Days: 0, last30Days: 0)
            return JSONValue.string(type).serialized()
                + ":{\"24h\":\(window.last24Hours),\"7d\":\(window.last7Days),\"30d\":\(window.last30Days)}"
        }.joined(separator: ",") + "}"
        return [
            ("evse_id", .string(evseID)), ("operator_id", .string(operatorID)), ("error_count", .integer(errorCount)),
            ("error_counts", .json(counts)), ("recent_error_counts", .json(windows)), ("first_error_at", firstErrorAt.field),
            ("last_error_at", lastErrorAt.field), ("sessions", .integer(sessions)),
            ("sessions_with_errors", .integer(sessionsWithErrors)),
            ("error_rate", .json(String(format: "%.4f", errorRate))), ("last_session_id", lastSessionID.field),
            ("last_session_status", lastSessionStatus.field), ("last_session_received_at", lastSessionReceivedAt.field),
        ]
    }
}

/// An EVSE's error count in a time window.
public struct EvseErrorCount: ListRecord, Hashable {
    public static let fieldNames = ["evse_id", "operator_id", "errors", "connector_errors", "critical_errors", "last_error_at"]

    public var evseID: String
    public var operatorID: String
    public var errors: Int64
    public var connectorErrors: Int64
    public var criticalErrors: Int64
    public var lastErrorAt: Date

    public var fields: [(name: String, value: FieldValue)] {
        [
            ("evse_id", .string(evseID)), ("operator_id", .string(operatorID)), ("errors", .integer(errors)),
            ("connector_errors", .integer(connectorErrors)), ("critical_errors", .integer(criticalErrors)),
            ("last_error_at", .date(lastErrorAt)),
        ]
    }
}
