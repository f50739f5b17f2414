public import OICP

/// Where a session stands, as the ledger's notifications tell it.
///
/// | status | when |
/// | --- | --- |
/// | `authorized` | the ledger knows the session but has no lifecycle notification for it yet |
/// | `charging` | a Start or Progress arrived, and no Error since the last of them |
/// | `errored` | the latest lifecycle notification is an Error and no End came (yet) |
/// | `ended` | an End arrived |
public enum SessionStatus: String, Sendable, CaseIterable, Codable {
    case authorized
    case charging
    case errored
    case ended
}

/// What a session was doing when an error was reported (REFERENCE §4.2: an Error is sent
/// "before charging starts, during charging, or ends a session abruptly").
///
/// - `before_charging`: no Start, Progress or End had arrived.
/// - `during_charging`: charging had started and no End had arrived. It becomes `abrupt_end`
///   when the session's next lifecycle notification is its End (no Progress in between): the
///   error is what ended the session.
/// - `abrupt_end`: as above, or the error arrived after the End (reporting why it ended).
public enum ErrorPhase: String, Sendable, CaseIterable, Codable {
    case beforeCharging = "before_charging"
    case duringCharging = "during_charging"
    case abruptEnd = "abrupt_end"
}

/// The fold's state of one session, and the session summary read model.
public struct SessionState: Sendable, Hashable {
    public var sessionID: String
    /// The EvseID of the session's first notification.
    public var evseID: String
    public var operatorID: String
    public var cpoPartnerSessionID: String?
    public var empPartnerSessionID: String?
    public var status: SessionStatus
    /// A Start or Progress arrived.
    public var chargingStarted: Bool
    /// An End arrived.
    public var ended: Bool
    /// A Start arrived.
    public var startReceived: Bool
    /// `ChargingStart` as sent: the first Start's; until a Start arrives, the first Progress's
    /// or End's.
    public var chargingStart: Timestamp?
    /// `ChargingEnd` as sent.
    public var chargingEnd: Timestamp?
    /// kWh: End's `ConsumedEnergy`, else `MeterValueEnd - MeterValueStart`, else the latest
    /// Progress's `ConsumedEnergyProgress`.
    public var consumedEnergy: KilowattHours?
    public var meterValueStart: KilowattHours?
    public var errorCount: Int
    public var firstErrorAt: Timestamp?
    public var lastErrorAt: Timestamp?
    public var lastErrorType: String?
    public var anomalyCount: Int
    /// Entries in the session's timeline; the last entry's `seq`.
    public var eventCount: Int
    public var firstReceivedAt: Timestamp
    public var lastReceivedAt: Timestamp
    /// Global position of the last event folded in.
    public var lastPosition: Int64
    /// Errors reported during charging with no Progress since: they become `abrupt_end` if
    /// the End comes next. At most `openErrorLimit` are kept.
    public var openErrors: [Int64]
    /// One of the session's errors is `abrupt_end`: the session ended abruptly (a statistic of
    /// its own: the share of sessions that did).
    public var abruptEnd: Bool

    public static let openErrorLimit = 100

    public init(sessionID: String, evseID: String, operatorID: String, firstReceivedAt: Timestamp) {
        self.sessionID = sessionID
        self.evseID = evseID
        self.operatorID = operatorID
        self.status = .authorized
        self.chargingStarted = false
        self.ended = false
        self.startReceived = false
        self.errorCount = 0
        self.anomalyCount = 0
        self.eventCount = 0
        self.firstReceivedAt = firstReceivedAt
        self.lastReceivedAt = firstReceivedAt
        self.lastPosition = 0
        self.openErrors = []
        self.abruptEnd = false
    }

    /// The phase an error arriving now is reported in.
    public var errorPhase: ErrorPhase {
        if ended { return .abruptEnd }
        return chargingStarted ? .duringCharging : .beforeCharging
    }
}

/// The EVSE summary read model: one row per EVSE that has seen a session or an error.
///
/// Counts over the last 24 h / 7 d / 30 d are not stored (they change with the clock, not
/// with events): the query layer counts them from the EVSE error timeline.
public struct EvseSummary: Sendable, Hashable {
    public var evseID: String
    public var operatorID: String
    /// Errors per `ErrorType`, over all time.
    public var errorCounts: [String: Int]
    public var firstErrorAt: Timestamp?
    public var lastErrorAt: Timestamp?
    /// Sessions whose first notification named this EVSE.
    public var sessions: Int
    /// Of those, the ones with at least one error.
    public var sessionsWithErrors: Int
    /// The EVSE's most recent session (by first notification received) and its status.
    public var lastSessionID: String?
    public var lastSessionStatus: SessionStatus?
    public var lastSessionReceivedAt: Timestamp?

    public init(evseID: String, operatorID: String) {
        self.evseID = evseID
        self.operatorID = operatorID
        self.errorCounts = [:]
        self.sessions = 0
        self.sessionsWithErrors = 0
    }

    public var errorCount: Int { errorCounts.values.reduce(0, +) }
}
