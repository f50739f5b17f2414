public import Foundation
import JSON
import Ledger
import OICP
import Postgres

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

    /// What `fields` would write, without building them: a page of the EVSE timeline is 100 of
    /// these (a test holds the two to the same bytes).
    public func writeJSON(to output: inout [UInt8]) {
        func name(_ text: StaticString) {
            output.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        name(#"{"position":"#)
        output.append(contentsOf: String(position).utf8)
        name(#","received_at":"#)
        JSONValue.writeString(rfc3339(receivedAt), to: &output)
        name(#","evse_id":"#)
        JSONValue.writeString(evseID, to: &output)
        name(#","operator_id":"#)
        JSONValue.writeString(operatorID, to: &output)
        name(#","error_type":"#)
        JSONValue.writeString(errorType, to: &output)
        name(#","error_additional_info":"#)
        if let errorAdditionalInfo { JSONValue.writeString(errorAdditionalInfo, to: &output) } else { name("null") }
        name(#","session_id":"#)
        JSONValue.writeString(sessionID, to: &output)
        name(#","session_seq":"#)
        output.append(contentsOf: String(sessionSeq).utf8)
        name(#","phase":"#)
        JSONValue.writeString(phase, to: &output)
        name(#","event_id":"#)
        JSONValue.writeString(eventID.lowercasedString, to: &output)
        name("}")
    }

    public var fields: [(name: String, value: FieldValue)] {
        [
            ("position", .integer(position)), ("received_at", .date(receivedAt)), ("evse_id", .string(evseID)),
            ("operator_id", .string(operatorID)), ("error_type", .string(errorType)),
            ("error_additional_info", errorAdditionalInfo.field), ("session_id", .string(sessionID)),
            ("session_seq", .integer(Int64(sessionSeq))), ("phase", .string(phase)),
            ("event_id", .string(eventID.lowercasedString)),
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
        guard case .object(let object)? = try? JSONParser.parse(text.utf8, maxDepth: 4, maxBytes: 1 << 20) else { return [:] }
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
