import EventStore
import Foundation
import Ledger
import Projections
import TestSupport
import Testing

/// Statistics of the fault history from the hourly rollups, against a real PostgreSQL: a small
/// fleet whose every count is known.
@Suite("Statistics: series, rankings, reliability, messages")
struct StatisticsTests {
    static let utc = "UTC", berlin = "Europe/Berlin"
    /// 2026-03-28, a Saturday; Berlin moves to summer time in the night that follows.
    static let day = ISO8601DateFormatter().date(from: "2026-03-28T00:00:00Z")!
    static let a = "DE*A36*EA1*1", b = "DE*A36*EB1*1", c = "DE*XYZ*EC1*1"

    func at(_ hours: Double) -> Date { Self.day.addingTimeInterval(hours * 3600) }

    /// At A: four sessions (one ended abruptly by a ConnectorError, one with a CriticalError
    /// before charging, two clean), the last of them a day later. At B: one session, two
    /// errors. At C (another operator): two sessions, one error at 23:30 UTC (00:30 in Berlin).
    func fleet() async throws -> TestLedger {
        let ledger = try await TestLedger.make()
        let s = (0..<7).map { _ in NotificationBody.newSession() }
        let script: [(String, Double)] = [
            (NotificationBody.start(s[0], evse: Self.a), 8),
            (NotificationBody.error(s[0], evse: Self.a, type: "ConnectorError", info: "cable locked"), 8.5),
            (NotificationBody.end(s[0], evse: Self.a), 8.6),
            (NotificationBody.start(s[1], evse: Self.a), 9),
            (NotificationBody.end(s[1], evse: Self.a), 10),
            (NotificationBody.error(s[2], evse: Self.a, type: "CriticalError", info: "RCD tripped"), 12),
            (NotificationBody.start(s[3], evse: Self.a), 30),
            (NotificationBody.end(s[3], evse: Self.a), 31),
            (NotificationBody.start(s[4], evse: Self.b), 9),
            (NotificationBody.error(s[4], evse: Self.b, type: "ConnectorError", info: "cable locked"), 9.2),
            (NotificationBody.progress(s[4], evse: Self.b, minute: 20), 9.4),
            (NotificationBody.error(s[4], evse: Self.b, type: "CriticalError", info: "RCD tripped"), 9.6),
            (NotificationBody.start(s[5], evse: Self.c, operator: "DE*XYZ"), 20),
            (NotificationBody.start(s[6], evse: Self.c, operator: "DE*XYZ"), 23.4),
            (NotificationBody.error(s[6], evse: Self.c, operator: "DE*XYZ", type: "CriticalError", info: "RCD tripped"), 23.5),
        ]
        for (body, hours) in script { try await ledger.ingest(body, at: at(hours)) }
        let projector = start(Projector(store: ledger.store, configuration: .init(pollInterval: .milliseconds(50))))
        defer { projector.cancel() }
        for projection in TimelineProjection.all { try await ledger.waitUntilCaughtUp(projection) }
        return ledger
    }

    @Test("a daily series counts errors and sessions per day, zero-filled, in UTC or in a named time zone; grouped by type or phase it splits the errors")
    func series() async throws {
        let ledger = try await fleet()
        defer { ledger.close() }
        let statistics = StatisticsQueries(store: ledger.store)
        let window = try StatisticsWindow(from: at(2), to: at(60), bucket: .day, timeZone: Self.utc)
        #expect(window.from == Self.day && window.to == at(72), "taken to whole days")

        let fleet = try await statistics.series(SeriesRequest(window: window))
        #expect(fleet.points.map(\.errors) == [5, 0, 0] && fleet.points.map(\.sessions) == [6, 1, 0], "\(fleet.points)")

        // In Berlin, C's error at 23:30 UTC falls on the 29th, as does the session that had it.
        let berlin = try await statistics.series(SeriesRequest(window: try StatisticsWindow(from: at(0), to: at(48), bucket: .day, timeZone: Self.berlin)))
        #expect(berlin.points.first?.bucketStart == at(-1), "a Berlin day starts at 23:00 UTC in winter")
        #expect(berlin.points.map(\.errors) == [4, 1, 0] && berlin.points.map(\.sessions) == [5, 2, 0], "\(berlin.points)")

        let byType = try await statistics.series(SeriesRequest(window: window, groupBy: .errorType))
        let first = byType.points.filter { $0.bucketStart == Self.day }
        #expect(first.map { "\($0.group ?? "-")=\($0.errors)/\($0.sessions)" } == ["ConnectorError=2/6", "CriticalError=3/6"])
        #expect(byType.points.count == 6, "every type in every bucket")

        let byPhase = try await statistics.series(SeriesRequest(window: window, groupBy: .phase))
        let phases = Dictionary(byPhase.points.filter { $0.bucketStart == Self.day }.map { ($0.group ?? "-", $0.errors) }, uniquingKeysWith: +)
        #expect(phases == ["abrupt_end": 1, "before_charging": 1, "during_charging": 3], "\(phases)")

        let byEvse = try await statistics.series(SeriesRequest(window: window, groupBy: .evse, scope: .init(errorTypes: ["CriticalError"])))
        #expect(byEvse.points.map { "\($0.group ?? "-")=\($0.errors)/\($0.sessions)" } == ["\(Self.a)=1/3", "\(Self.b)=1/1", "\(Self.c)=1/2", "\(Self.a)=0/1"])

        // A token limited to DE*XYZ sees C alone; the operator filter likewise.
        let limited = try await statistics.series(SeriesRequest(window: window, groupBy: .operator, scope: .init(operatorIDs: ["DE*XYZ"])))
        #expect(limited.points.map { "\($0.group ?? "-")=\($0.errors)/\($0.sessions)" } == ["DE*XYZ=1/2"])
        let hourly = try await statistics.series(
            SeriesRequest(window: try StatisticsWindow(from: at(23), to: at(24)), scope: .init(operatorID: "DEXYZ"))
        )
        #expect(hourly.points.map(\.errors) == [1] && hourly.points.map(\.sessions) == [1])
    }

    @Test("fair rankings divide by sessions and leave out EVSEs with too few; a type narrows errors and the sessions that had them")
    func rankings() async throws {
        let ledger = try await fleet()
        defer { ledger.close() }
        let statistics = StatisticsQueries(store: ledger.store)
        let window = try StatisticsWindow(from: at(0), to: at(48))
        let perSession = try await statistics.rankings(RankingRequest(window: window, minSessions: 1))
        #expect(perSession.map(\.evseID) == [Self.b, Self.a, Self.c], "B: 2 errors in 1 session; A: 2 in 4; C: 1 in 2")
        #expect(perSession.first?.fields.first { $0.name == "errors_per_session" }?.value.json == "2.0000")
        #expect(try await statistics.rankings(RankingRequest(window: window, minSessions: 2)).map(\.evseID) == [Self.a, Self.c], "a tie goes to the EVSE with more sessions")
        let abrupt = try await statistics.rankings(RankingRequest(window: window, metric: .abruptEndShare, minSessions: 1))
        #expect(abrupt.first?.evseID == Self.a && abrupt.first?.abruptEnds == 1)
        let shares = try await statistics.rankings(RankingRequest(window: window, metric: .errorSessionShare, minSessions: 1))
        #expect(shares.map { "\($0.evseID)=\($0.sessionsWithErrors)/\($0.sessions)" } == ["\(Self.b)=1/1", "\(Self.a)=2/4", "\(Self.c)=1/2"])
        let connector = try await statistics.rankings(
            RankingRequest(window: window, metric: .errorSessionShare, minSessions: 1, scope: .init(errorTypes: ["ConnectorError"]))
        )
        #expect(connector.map { "\($0.evseID)=\($0.errors):\($0.sessionsWithErrors)/\($0.sessions)" } == ["\(Self.b)=1:1/1", "\(Self.a)=1:1/4", "\(Self.c)=0:0/2"])
        let limited = try await statistics.rankings(RankingRequest(window: window, minSessions: 1, scope: .init(operatorIDs: ["DE*A36"])))
        #expect(limited.map(\.evseID) == [Self.b, Self.a])
    }

    @Test("an EVSE's reliability over any window: sessions, errors by type, abrupt ends, first and last error, sessions since the last error")
    func reliability() async throws {
        let ledger = try await fleet()
        defer { ledger.close() }
        let statistics = StatisticsQueries(store: ledger.store)
        let figures = try #require(try await statistics.reliability(Self.a, window: try StatisticsWindow(from: at(0), to: at(48))))
        #expect(figures.sessions == 4 && figures.sessionsWithErrors == 2 && figures.abruptEnds == 1)
        #expect(figures.errorsByType == ["ConnectorError": 1, "CriticalError": 1])
        #expect(figures.firstErrorAt == at(8.5) && figures.lastErrorAt == at(12))
        #expect(figures.sessionsSinceLastError == 1, "the session of the next day")
        let morning = try #require(try await statistics.reliability(Self.a, window: try StatisticsWindow(from: at(8), to: at(9))))
        #expect(morning.sessions == 1 && morning.errors == 1 && morning.lastErrorAt == at(8.5))
        #expect(morning.fields.first { $0.name == "mean_sessions_between_errors" }?.value.json == "1.0000")
        #expect(try await statistics.reliability("DE*A36*ENOPE*1", window: try StatisticsWindow(from: at(0), to: at(48))) == nil)
    }

    @Test("the most frequent messages per type, with the EVSEs that sent them; limited tokens see their operators' only")
    func messages() async throws {
        let ledger = try await fleet()
        defer { ledger.close() }
        let statistics = StatisticsQueries(store: ledger.store)
        let window = try StatisticsWindow(from: at(0), to: at(48))
        let all = try await statistics.messages(MessagesRequest(window: window))
        #expect(all.map { "\($0.errorType):\($0.message ?? "-")=\($0.errors)@\($0.evses)" } == [
            "ConnectorError:cable locked=2@2", "CriticalError:RCD tripped=3@3",
        ])
        let limited = try await statistics.messages(MessagesRequest(window: window, scope: .init(operatorIDs: ["DE*XYZ"])))
        #expect(limited.map(\.errors) == [1])
    }

    @Test("rates are numbers with four decimals, rounded half up; none when there is nothing to divide by")
    func rates() {
        let cases: [(Int64, Int64, String)] = [(2, 3, "0.6667"), (1, 8, "0.1250"), (0, 5, "0.0000"), (5, 1, "5.0000"), (1, 3, "0.3333"), (2, 0, "null"), (12_345, 2, "6172.5000")]
        for (errors, sessions, text) in cases {
            let point = SeriesPoint(bucketStart: Self.day, group: nil, errors: errors, sessions: sessions)
            #expect(point.fields.last?.value.json == text, "\(errors)/\(sessions)")
        }
    }

    @Test("a window is refused with the parameter at fault: reversed, an unknown zone, longer than ten years, a zone half an hour off UTC")
    func windows() throws {
        let reversed = #expect(throws: StatisticsWindow.Problem.self) { try StatisticsWindow(from: at(2), to: at(1)) }
        #expect(reversed?.parameter == "to")
        let unknown = #expect(throws: StatisticsWindow.Problem.self) { try StatisticsWindow(from: at(0), to: at(1), timeZone: "CET; DROP") }
        #expect(unknown?.parameter == "time_zone")
        let buckets = #expect(throws: StatisticsWindow.Problem.self) { try StatisticsWindow(from: at(0), to: at(24 * 365 * 12), bucket: .hour) }
        #expect(buckets?.parameter == "from", "ten years at most")
        let india = #expect(throws: StatisticsWindow.Problem.self) {
            try StatisticsWindow(from: at(0), to: at(48), bucket: .day, timeZone: "Asia/Kolkata")
        }
        #expect(india?.parameter == "time_zone" && india?.reason.contains("whole number of hours") == true)
        let week = try StatisticsWindow(from: at(0), to: at(1), bucket: .week, timeZone: Self.berlin)
        #expect(week.buckets.count == 1 && week.from == at(-24 * 5 - 1), "the ISO week starts on Monday 00:00 in Berlin")
    }
}
