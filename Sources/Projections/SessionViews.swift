public import Foundation
import Ledger
import OICP
import Postgres

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
            ("seq", .integer(Int64(seq))), ("position", .integer(position)), ("event_id", .string(eventID.lowercasedString)),
            ("event_type", .string(eventType)), ("notification_type", .string(notificationType)), ("evse_id", .string(evseID)),
            ("received_at", .date(receivedAt)), ("occurred_at", occurredAt.field), ("error_type", errorType.field),
            ("error_additional_info", errorAdditionalInfo.field), ("phase", phase.field), ("anomalies", .json(anomalies)),
            ("details", .json(details)),
        ]
    }
}
