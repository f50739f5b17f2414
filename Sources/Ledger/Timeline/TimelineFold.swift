public import Foundation
import JSON
public import OICP

/// A stored event as the timeline fold sees it.
public struct FoldEvent: Sendable {
    public var position: Int64
    public var streamID: String
    public var eventID: UUID
    public var type: String
    /// The event's `data`, JSON text.
    public var data: String

    public init(position: Int64, streamID: String, eventID: UUID, type: String, data: String) {
        self.position = position
        self.streamID = streamID
        self.eventID = eventID
        self.type = type
        self.data = data
    }
}

/// One entry of a session's timeline.
public struct TimelineEntry: Sendable, Hashable {
    public var sessionID: String
    /// 1, 2, 3 … within the session, in the order the ledger applied the events.
    public var seq: Int
    public var position: Int64
    public var eventID: UUID
    public var eventType: String
    /// `Start`, `Progress`, `End` or `Error`.
    public var notificationType: String
    public var evseID: String
    public var receivedAt: Timestamp
    /// The OICP timestamp the notification carries (ChargingStart, EventOccurred, ChargingEnd);
    /// none for an Error.
    public var occurredAt: Timestamp?
    public var errorType: String?
    public var errorAdditionalInfo: String?
    public var phase: ErrorPhase?
    /// The event's anomalies, as the JSON array stored on it.
    public var anomalies: String
    /// The notification's other figures (energy, meter values, duration …), a JSON object.
    public var details: String
}

/// One entry of an EVSE's error timeline (and of the fleet error feed).
public struct ErrorEntry: Sendable, Hashable {
    public var position: Int64
    public var eventID: UUID
    public var evseID: String
    public var operatorID: String
    public var sessionID: String
    /// The error's entry in its session's timeline.
    public var sessionSeq: Int
    public var errorType: String
    public var errorAdditionalInfo: String?
    public var receivedAt: Timestamp
    public var phase: ErrorPhase
}

/// An error recorded earlier whose phase became `abrupt_end` when its session's End arrived.
public struct AbruptEnd: Sendable, Hashable {
    public var sessionID: String
    public var position: Int64
}

/// What folding a batch of events produced: rows to add, rows to re-mark, and the sessions and
/// EVSEs whose state changed (their new state is in the dictionaries passed to the fold).
public struct TimelineChanges: Sendable {
    public var timeline: [TimelineEntry] = []
    public var errors: [ErrorEntry] = []
    /// Errors stored before this batch that are now `abrupt_end` (ones within the batch are
    /// already marked in `timeline` and `errors`).
    public var abruptEnds: [AbruptEnd] = []
    public var touchedSessions: Set<String> = []
    public var touchedEvses: Set<String> = []
    /// Events that do not concern timelines (quarantine, …) or whose data was unreadable.
    public var skipped = 0

    public init() {}
}

/// The fold from events to the timeline read models. Pure: no I/O, no clock.
///
/// The projector loads the states of the sessions and EVSEs a batch touches, folds, and writes
/// what changed; a rebuild keeps every state in memory. Both get the same rows.
public enum TimelineFold {
    /// The largest nesting the fold parses in an event's data (the notification is capped at 16).
    static let maxDepth = 32

    /// Folds `events` (in the gap-safe global order) into the states.
    ///
    /// - Parameters:
    ///   - sessions: the state of every session the events belong to that has been seen before;
    ///     new sessions are added.
    ///   - evses: likewise for the EVSEs the events name (and their sessions' EVSEs).
    public static func fold(
        _ events: some Sequence<PreparedEvent>, sessions: inout [String: SessionState], evses: inout [String: EvseSummary]
    ) -> TimelineChanges {
        var changes = TimelineChanges()
        // Errors within this batch by position, so an End can re-mark them in place.
        var batchTimelineIndex: [Int64: Int] = [:]
        var batchErrorIndex: [Int64: Int] = [:]
        for prepared in events {
            if let delivery = prepared.delivery {
                // Forwarding to Hubject: an entry in the session's timeline; the session's
                // summary (status, errors, energy) is the notifications' alone.
                guard var state = sessions[delivery.sessionID] else {
                    changes.skipped += 1
                    continue
                }
                state.eventCount += 1
                changes.timeline.append(
                    TimelineEntry(
                        sessionID: delivery.sessionID, seq: state.eventCount, position: prepared.event.position, eventID: prepared.event.eventID,
                        eventType: prepared.event.type, notificationType: delivery.notificationType, evseID: state.evseID,
                        receivedAt: delivery.at, occurredAt: nil, anomalies: "[]", details: delivery.details
                    )
                )
                sessions[delivery.sessionID] = state
                changes.touchedSessions.insert(delivery.sessionID)
                continue
            }
            guard let fact = prepared.fact else {
                changes.skipped += 1
                continue
            }
            let event = prepared.event
            let type = fact.type
            var state =
                sessions[fact.sessionID]
                ?? SessionState(
                    sessionID: fact.sessionID, evseID: fact.evseID, operatorID: fact.operatorID, firstReceivedAt: fact.receivedAt)
            let isNewSession = state.eventCount == 0
            let hadErrors = state.errorCount > 0
            state.eventCount += 1
            state.lastPosition = event.position
            state.lastReceivedAt = fact.receivedAt
            state.anomalyCount += fact.anomalyCount
            if let id = fact.string("CPOPartnerSessionID") { state.cpoPartnerSessionID = id }
            if let id = fact.string("EMPPartnerSessionID") { state.empPartnerSessionID = id }

            var entry = TimelineEntry(
                sessionID: fact.sessionID, seq: state.eventCount, position: event.position, eventID: event.eventID,
                eventType: event.type, notificationType: fact.notificationType, evseID: fact.evseID,
                receivedAt: fact.receivedAt, occurredAt: nil, anomalies: fact.anomalies, details: "{}"
            )
            switch type {
            case .chargingStarted, .chargingProgressed:
                let isStart = type == .chargingStarted
                entry.occurredAt = fact.timestamp(isStart ? "ChargingStart" : "EventOccurred")
                entry.details = fact.details(
                    isStart
                        ? ["SessionStart", "MeterValueStart", "PartnerProductID"]
                        : ["ChargingStart", "ChargingDuration", "ConsumedEnergyProgress", "MeterValueStart", "MeterValueInBetween"]
                )
                state.chargingStarted = true
                if isStart, !state.startReceived {
                    // The Start is the authority on when charging started, whenever it arrives.
                    state.startReceived = true
                    state.chargingStart = fact.timestamp("ChargingStart") ?? state.chargingStart
                } else {
                    state.chargingStart = state.chargingStart ?? fact.timestamp("ChargingStart")
                }
                state.meterValueStart = state.meterValueStart ?? fact.energy("MeterValueStart")
                if !isStart, !state.ended, let energy = fact.energy("ConsumedEnergyProgress") { state.consumedEnergy = energy }
                if !state.ended { state.status = .charging }
                // Charging went on after these errors: they did not end the session.
                state.openErrors.removeAll()
            case .chargingEnded:
                entry.occurredAt = fact.timestamp("ChargingEnd")
                entry.details = fact.details([
                    "ChargingStart", "SessionStart", "SessionEnd", "ConsumedEnergy", "MeterValueStart", "MeterValueEnd",
                    "MeterValueInBetween", "PenaltyTimeStart", "PartnerProductID",
                ])
                state.ended = true
                state.status = .ended
                state.chargingStart = state.chargingStart ?? fact.timestamp("ChargingStart")
                state.chargingEnd = fact.timestamp("ChargingEnd") ?? state.chargingEnd
                let start = fact.energy("MeterValueStart") ?? state.meterValueStart
                if let consumed = fact.energy("ConsumedEnergy") {
                    state.consumedEnergy = consumed
                } else if let start, let end = fact.energy("MeterValueEnd"), end >= start {
                    state.consumedEnergy = KilowattHours(thousandths: end.thousandths - start.thousandths)
                }
                if !state.openErrors.isEmpty { state.abruptEnd = true }
                for position in state.openErrors {
                    if let index = batchTimelineIndex[position], let errorIndex = batchErrorIndex[position] {
                        changes.timeline[index].phase = .abruptEnd
                        changes.errors[errorIndex].phase = .abruptEnd
                    } else {
                        changes.abruptEnds.append(AbruptEnd(sessionID: fact.sessionID, position: position))
                    }
                }
                state.openErrors.removeAll()
            case .chargingErrorReported:
                let errorType = fact.string("ErrorType") ?? "unknown"
                let info = fact.string("ErrorAdditionalInfo")
                let phase = state.errorPhase
                entry.errorType = errorType
                entry.errorAdditionalInfo = info
                entry.phase = phase
                state.errorCount += 1
                state.firstErrorAt = state.firstErrorAt ?? fact.receivedAt
                state.lastErrorAt = fact.receivedAt
                state.lastErrorType = errorType
                if !state.ended { state.status = .errored }
                if phase == .abruptEnd { state.abruptEnd = true }
                if phase == .duringCharging, state.openErrors.count < SessionState.openErrorLimit {
                    state.openErrors.append(event.position)
                }
                batchErrorIndex[event.position] = changes.errors.count
                batchTimelineIndex[event.position] = changes.timeline.count
                changes.errors.append(
                    ErrorEntry(
                        position: event.position, eventID: event.eventID, evseID: fact.evseID, operatorID: fact.operatorID,
                        sessionID: fact.sessionID, sessionSeq: state.eventCount, errorType: errorType,
                        errorAdditionalInfo: info, receivedAt: fact.receivedAt, phase: phase
                    )
                )
                var summary = evses[fact.evseID] ?? EvseSummary(evseID: fact.evseID, operatorID: fact.operatorID)
                summary.errorCounts[errorType, default: 0] += 1
                summary.firstErrorAt = summary.firstErrorAt ?? fact.receivedAt
                summary.lastErrorAt = fact.receivedAt
                evses[fact.evseID] = summary
                changes.touchedEvses.insert(fact.evseID)
            default:
                break
            }
            changes.timeline.append(entry)

            // The session counts at the EVSE it started at.
            var home = evses[state.evseID] ?? EvseSummary(evseID: state.evseID, operatorID: state.operatorID)
            if isNewSession { home.sessions += 1 }
            if !hadErrors, state.errorCount > 0 { home.sessionsWithErrors += 1 }
            if home.lastSessionID == state.sessionID || isNewSession
                && (home.lastSessionReceivedAt.map { $0.epochMilliseconds <= state.firstReceivedAt.epochMilliseconds } ?? true)
            {
                home.lastSessionID = state.sessionID
                home.lastSessionReceivedAt = state.firstReceivedAt
                home.lastSessionStatus = state.status
            }
            evses[state.evseID] = home
            changes.touchedEvses.insert(state.evseID)

            sessions[fact.sessionID] = state
            changes.touchedSessions.insert(fact.sessionID)
        }
        return changes
    }
}

/// An event with its data parsed: the projector reads which sessions and EVSEs a batch touches
/// (to load their states) before folding it.
public struct PreparedEvent: Sendable {
    public let event: FoldEvent
    let fact: Fact?
    let delivery: DeliveryFact?

    public init(_ event: FoldEvent) {
        self.event = event
        self.fact = Fact(event)
        self.delivery = fact == nil ? DeliveryFact(event) : nil
    }

    /// The session a lifecycle or delivery event belongs to; nil for events the timelines do not show.
    public var sessionID: String? { fact?.sessionID ?? delivery?.sessionID }
    /// The EVSE the notification names.
    public var evseID: String? { fact?.evseID }
}

/// The fields of a lifecycle event's data the fold reads.
struct Fact: Sendable {
    let type: LedgerEventType
    let sessionID: String
    let evseID: String
    let operatorID: String
    let notificationType: String
    let receivedAt: Timestamp
    let anomalies: String
    let anomalyCount: Int
    let notification: JSONObject

    init?(_ event: FoldEvent) {
        guard let recorded = RecordedNotification(type: event.type, streamID: event.streamID, data: event.data) else { return nil }
        self.type = recorded.type
        self.sessionID = recorded.sessionID
        self.evseID = recorded.evseID
        self.operatorID = recorded.operatorID
        self.notificationType = recorded.notificationType
        self.receivedAt = recorded.receivedAt
        self.anomalies = recorded.anomalies.isEmpty ? "[]" : JSONValue.array(recorded.anomalies).serialized()
        self.anomalyCount = recorded.anomalies.count
        self.notification = recorded.notification
    }

    func string(_ field: String) -> String? { notification[field]?.stringValue }
    func timestamp(_ field: String) -> Timestamp? { string(field).flatMap(Timestamp.init) }
    func energy(_ field: String) -> KilowattHours? { notification[field]?.numberText.flatMap(KilowattHours.init) }

    /// The named members of the notification that are present, as a JSON object.
    func details(_ fields: [String]) -> String {
        JSONValue.object(JSONObject(fields.compactMap { field in notification[field].map { (field, $0) } })).serialized()
    }
}

/// The fields of a delivery event (forwarding to Hubject) the session timeline shows.
struct DeliveryFact: Sendable {
    let sessionID: String
    /// The type of the notification forwarded.
    let notificationType: String
    /// When the forwarder recorded the outcome (or the operator asked for a retry).
    let at: Timestamp
    /// The delivery's figures, a JSON object.
    let details: String

    init?(_ event: FoldEvent) {
        guard let delivery = DeliveryEvent(type: event.type, data: event.data) else { return nil }
        sessionID = delivery.sessionID
        notificationType = delivery.notificationType
        at = delivery.at
        var fields: [(key: String, value: JSONValue)] = []
        func add(_ key: String, _ value: JSONValue?) { if let value { fields.append((key, value)) } }
        add("outcome", delivery.outcome.map(JSONValue.string))
        add("attempt", delivery.attempt.map { .number(String($0)) })
        add("status_code", delivery.statusCode.map(JSONValue.string))
        add("status_description", delivery.statusDescription.map(JSONValue.string))
        add("latency_ms", delivery.latencyMilliseconds.map { .number(String($0)) })
        add("reason", delivery.reason.map(JSONValue.string))
        add("next_attempt_at", delivery.nextAttemptAt.map { .string($0.text) })
        add("requested_by", delivery.requestedBy.map(JSONValue.string))
        add("without_identification", delivery.withoutIdentification.map(JSONValue.bool))
        add("event_id", .string(delivery.eventID))
        add("position", .number(String(delivery.position)))
        details = JSONValue.object(JSONObject(fields)).serialized()
    }
}
