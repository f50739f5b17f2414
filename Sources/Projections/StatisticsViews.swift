public import Foundation
import Ledger

/// The size of a series' buckets.
public enum StatisticsBucket: String, Sendable, CaseIterable {
    case hour, day, week
}

/// What a series' points are per, besides their bucket.
public enum SeriesGrouping: String, Sendable, CaseIterable {
    case none, evse, `operator`, errorType = "error_type", phase
}

/// What a ranking ranks by, each over the EVSE's sessions in the window.
public enum RankingMetric: String, Sendable, CaseIterable {
    /// Errors per session.
    case errorsPerSession = "errors_per_session"
    /// The share of sessions that had an error.
    case errorSessionShare = "error_session_share"
    /// The share of sessions that ended abruptly (an error ended them).
    case abruptEndShare = "abrupt_end_share"
}

/// Which part of the history a statistic covers. Empty fields do not filter.
public struct StatisticsScope: Sendable, Hashable {
    public var evseID: String?
    public var operatorID: String?
    /// Only these operators' EVSEs and errors (an access restriction); nil for all.
    public var operatorIDs: [String]?
    /// Errors of these `ErrorType`s only; sessions are not filtered by type.
    public var errorTypes: [String]

    public init(evseID: String? = nil, operatorID: String? = nil, operatorIDs: [String]? = nil, errorTypes: [String] = []) {
        self.evseID = evseID
        self.operatorID = operatorID
        self.operatorIDs = operatorIDs
        self.errorTypes = errorTypes
    }
}

/// A window of whole buckets in a time zone: `from` taken back to the start of its bucket, `to`
/// on to the end of its own (so a bucket is never counted in part).
public struct StatisticsWindow: Sendable, Hashable {
    public let from: Date
    public let to: Date
    public let bucket: StatisticsBucket
    /// The IANA name the window's buckets are cut in, as given (`UTC`, `Europe/Berlin`).
    public let timeZoneName: String
    public let timeZone: TimeZone

    /// The window when none is given: the 30 days before `to` (the API's and the CLI's default).
    public static let defaultSpan: TimeInterval = 30 * 86_400

    /// The longest window, whatever the bucket: ten years (87,660 hours, fewer than
    /// `StatisticsQueries.maxPoints`).
    public static let maxSpan: TimeInterval = 3653 * 86_400

    /// Why a window cannot be made, naming the parameter at fault.
    public struct Problem: Error, Sendable, Equatable {
        public let parameter: String
        public let reason: String
    }

    public init(from: Date, to: Date, bucket: StatisticsBucket = .hour, timeZone name: String = "UTC") throws(Problem) {
        // IANA names only (Europe/Berlin, UTC): no abbreviations or offsets, which Foundation
        // and PostgreSQL would each read their own way.
        guard name.utf8.count <= 64, name.utf8.allSatisfy(\.isIANAZoneByte), name != "localtime", let timeZone = TimeZone(identifier: name) else {
            throw Problem(parameter: "time_zone", reason: "\"\(name)\" is not an IANA time zone name, e.g. Europe/Berlin or UTC")
        }
        guard from < to else { throw Problem(parameter: "to", reason: "must be after from (\(rfc3339(from)))") }
        guard to.timeIntervalSince(from) <= Self.maxSpan else {
            throw Problem(parameter: "from", reason: "the window from \(rfc3339(from)) to \(rfc3339(to)) is longer than ten years")
        }
        // The rollups are per UTC hour: a zone half an hour off UTC would cut them in two.
        for date in [from, to] where timeZone.secondsFromGMT(for: date) % 3600 != 0 {
            throw Problem(
                parameter: "time_zone",
                reason: "\(name) is not a whole number of hours from UTC at \(rfc3339(date)); statistics are kept per UTC hour"
            )
        }
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = timeZone
        self.bucket = bucket
        self.timeZone = timeZone
        self.timeZoneName = name
        self.from = Self.start(of: from, bucket, calendar)
        let last = Self.start(of: to, bucket, calendar)
        self.to = last == to ? to : Self.next(after: last, bucket, calendar)
    }

    /// Whether the zone is UTC throughout the window (no offset, no change of it), so that its
    /// days are UTC days.
    var isUTC: Bool {
        timeZone.secondsFromGMT(for: from) == 0 && timeZone.secondsFromGMT(for: to) == 0
            && (timeZone.nextDaylightSavingTimeTransition(after: from).map { $0 >= to } ?? true)
    }

    /// The start of every bucket in the window, in order.
    public var buckets: [Date] {
        var starts: [Date] = []
        var start = from
        // Hours, and UTC days and weeks, are fixed lengths; zones' days go by their calendar.
        let fixed: TimeInterval? =
            switch bucket {
            case .hour: 3600
            case .day: isUTC ? 86_400 : nil
            case .week: isUTC ? 7 * 86_400 : nil
            }
        if let fixed {
            while start < to {
                starts.append(start)
                start = start.addingTimeInterval(fixed)
            }
            return starts
        }
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = timeZone
        while start < to {
            starts.append(start)
            start = Self.next(after: start, bucket, calendar)
        }
        return starts
    }

    static func start(of date: Date, _ bucket: StatisticsBucket, _ calendar: Calendar) -> Date {
        switch bucket {
        case .hour: Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
        case .day: calendar.startOfDay(for: date)
        case .week: calendar.dateInterval(of: .weekOfYear, for: date)?.start ?? calendar.startOfDay(for: date)
        }
    }

    static func next(after start: Date, _ bucket: StatisticsBucket, _ calendar: Calendar) -> Date {
        switch bucket {
        case .hour: start.addingTimeInterval(3600)
        case .day: calendar.date(byAdding: .day, value: 1, to: start) ?? start.addingTimeInterval(86_400)
        case .week: calendar.date(byAdding: .weekOfYear, value: 1, to: start) ?? start.addingTimeInterval(7 * 86_400)
        }
    }
}

public struct SeriesRequest: Sendable {
    public var window: StatisticsWindow
    public var groupBy: SeriesGrouping
    public var scope: StatisticsScope

    public init(window: StatisticsWindow, groupBy: SeriesGrouping = .none, scope: StatisticsScope = .init()) {
        self.window = window
        self.groupBy = groupBy
        self.scope = scope
    }
}

public struct RankingRequest: Sendable {
    public var window: StatisticsWindow
    public var metric: RankingMetric
    public var minSessions: Int
    public var limit: Int
    public var scope: StatisticsScope

    public static let defaultMinSessions = 10
    public static let defaultLimit = 20

    public init(
        window: StatisticsWindow, metric: RankingMetric = .errorsPerSession, minSessions: Int = defaultMinSessions, limit: Int = defaultLimit,
        scope: StatisticsScope = .init()
    ) {
        self.window = window
        self.metric = metric
        self.minSessions = minSessions
        self.limit = limit
        self.scope = scope
    }
}

public struct MessagesRequest: Sendable {
    public var window: StatisticsWindow
    /// Messages per error type, at most.
    public var limit: Int
    public var scope: StatisticsScope

    public static let defaultLimit = 10

    public init(window: StatisticsWindow, limit: Int = defaultLimit, scope: StatisticsScope = .init()) {
        self.window = window
        self.limit = limit
        self.scope = scope
    }
}

/// A series: its window (as taken to whole buckets) and its points.
public struct Series: Sendable {
    public var window: StatisticsWindow
    public var groupBy: SeriesGrouping
    public var points: [SeriesPoint]
}

public struct SeriesPoint: ListRecord, Hashable {
    public static let fieldNames = ["bucket_start", "group", "errors", "sessions", "errors_per_session"]

    public var bucketStart: Date
    /// The EvseID, OperatorID, ErrorType or phase; nil without grouping.
    public var group: String?
    public var errors: Int64
    /// The group's sessions (EVSE, operator), or the bucket's (none, error type, phase).
    public var sessions: Int64

    public init(bucketStart: Date, group: String?, errors: Int64, sessions: Int64) {
        self.bucketStart = bucketStart
        self.group = group
        self.errors = errors
        self.sessions = sessions
    }

    public var fields: [(name: String, value: FieldValue)] {
        [
            ("bucket_start", .date(bucketStart)), ("group", group.field), ("errors", .integer(errors)), ("sessions", .integer(sessions)),
            ("errors_per_session", .ratio(errors, sessions)),
        ]
    }
}

public struct EvseRanking: ListRecord, Hashable {
    public static let fieldNames = [
        "evse_id", "operator_id", "sessions", "errors", "sessions_with_errors", "abrupt_ends", "errors_per_session",
        "error_session_share", "abrupt_end_share",
    ]

    public var evseID: String
    public var operatorID: String
    public var sessions: Int64
    public var errors: Int64
    public var sessionsWithErrors: Int64
    public var abruptEnds: Int64

    public var fields: [(name: String, value: FieldValue)] {
        [
            ("evse_id", .string(evseID)), ("operator_id", .string(operatorID)), ("sessions", .integer(sessions)), ("errors", .integer(errors)),
            ("sessions_with_errors", .integer(sessionsWithErrors)), ("abrupt_ends", .integer(abruptEnds)),
            ("errors_per_session", .ratio(errors, sessions)), ("error_session_share", .ratio(sessionsWithErrors, sessions)),
            ("abrupt_end_share", .ratio(abruptEnds, sessions)),
        ]
    }
}

public struct EvseReliability: ReadModelRecord, Hashable {
    public var evseID: String
    public var operatorID: String
    public var window: StatisticsWindow
    public var sessions: Int64
    public var sessionsWithErrors: Int64
    public var abruptEnds: Int64
    public var errorsByType: [String: Int64]
    /// The first and last error received in the window.
    public var firstErrorAt: Date?
    public var lastErrorAt: Date?
    /// The EVSE's last error ever, and the sessions first seen after it.
    public var lastErrorEverAt: Date?
    public var sessionsSinceLastError: Int64

    public var errors: Int64 { errorsByType.values.reduce(0, +) }

    public var fields: [(name: String, value: FieldValue)] {
        let counts = "{" + errorsByType.sorted { $0.key < $1.key }.map { FieldValue.string($0.key).json + ":" + String($0.value) }.joined(separator: ",") + "}"
        return [
            ("evse_id", .string(evseID)), ("operator_id", .string(operatorID)), ("from", .date(window.from)), ("to", .date(window.to)),
            ("sessions", .integer(sessions)), ("errors", .integer(errors)), ("errors_by_type", .json(counts)),
            ("sessions_with_errors", .integer(sessionsWithErrors)), ("abrupt_ends", .integer(abruptEnds)),
            ("errors_per_session", .ratio(errors, sessions)), ("mean_sessions_between_errors", .ratio(sessions, errors)),
            ("first_error_at", firstErrorAt.field), ("last_error_at", lastErrorAt.field),
            ("sessions_since_last_error", .integer(sessionsSinceLastError)), ("last_error_ever_at", lastErrorEverAt.field),
        ]
    }
}

public struct ErrorMessageCount: ListRecord, Hashable {
    public static let fieldNames = ["error_type", "message", "errors", "evses", "last_seen_at"]

    public var errorType: String
    /// The `ErrorAdditionalInfo`; nil for errors sent without one.
    public var message: String?
    public var errors: Int64
    public var evses: Int64
    public var lastSeenAt: Date

    public var fields: [(name: String, value: FieldValue)] {
        [
            ("error_type", .string(errorType)), ("message", message.field), ("errors", .integer(errors)), ("evses", .integer(evses)),
            ("last_seen_at", .date(lastSeenAt)),
        ]
    }
}

extension FieldValue {
    /// `numerator / denominator` as a JSON number with four decimals; null when dividing by zero.
    static func ratio(_ numerator: Int64, _ denominator: Int64) -> FieldValue {
        guard denominator > 0, numerator >= 0 else { return .null }
        // Integer arithmetic, rounded half up: `String(format:)` costs more than the rest of a
        // series point (it was a tenth of a series request's time).
        let scaled = (Double(numerator) / Double(denominator) * 10_000).rounded()
        guard scaled < 1e15 else { return .json(String(Double(numerator) / Double(denominator))) }
        let tenThousandths = Int64(scaled)
        let fraction = String(tenThousandths % 10_000)
        return .json(String(tenThousandths / 10_000) + "." + String(repeating: "0", count: 4 - fraction.count) + fraction)
    }
}

extension UInt8 {
    /// A byte of an IANA zone name: letters, digits, `/`, `_`, `-`, `+`.
    fileprivate var isIANAZoneByte: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || self == UInt8(ascii: "/") || self == UInt8(ascii: "_")
            || self == UInt8(ascii: "-") || self == UInt8(ascii: "+")
    }
}
