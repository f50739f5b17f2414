import Foundation
import JSON
import Ledger
import OICP
import SeededRandom
import Testing

/// Given events recorded as ingestion records them (`NotificationDecision.decide` against the
/// session's lifecycle so far, so `data` is exactly what the ledger stores), when they are folded,
/// then the session timelines, error feed, session states and EVSE summaries are as expected.
///
/// Event `n` has global position `n` and, unless a test says otherwise, was received `n - 1`
/// seconds after `receivedAt` (2026-11-27T10:00:00.250Z).
@Suite("TimelineFold: session timelines, error phases and EVSE summaries")
struct TimelineFoldTests {
    // MARK: Start, Progress, End

    @Test("Start, Progress, End: the session is charging, still charging, then ended")
    func statusThroughLifecycle() throws {
        var recorder = Recorder()
        var fold = FoldState()

        var statuses: [SessionStatus] = []
        for type in [NotificationType.start, .progress, .end] {
            _ = fold.fold([try recorder.record(type)])
            statuses.append(try #require(fold.sessions[Body.sessionID]).status)
        }

        #expect(statuses == [.charging, .charging, .ended])
    }

    @Test("a full session's state holds the times, energy and counts as sent")
    func fullSessionState() throws {
        var recorder = Recorder()
        let events = try [NotificationType.start, .progress, .end].map { try recorder.record($0) }
        var fold = FoldState()

        let changes = fold.fold(events)

        var expected = SessionState(
            sessionID: Body.sessionID, evseID: evse1, operatorID: "DE*A36", firstReceivedAt: try received(0))
        expected.cpoPartnerSessionID = "cpo-tx-2024-05-14-000417"
        expected.status = .ended
        expected.chargingStarted = true
        expected.ended = true
        expected.startReceived = true
        expected.chargingStart = try stamp("2024-05-14T09:32:10+02:00")
        expected.chargingEnd = try stamp("2024-05-14T11:05:42+02:00")
        expected.consumedEnergy = KilowattHours(thousandths: 22_253)
        expected.meterValueStart = KilowattHours(thousandths: 12_345_678)
        expected.eventCount = 3
        expected.lastReceivedAt = try received(2)
        expected.lastPosition = 3
        #expect(fold.sessions == [Body.sessionID: expected])
        #expect(changes.touchedSessions == [Body.sessionID])
        #expect(changes.touchedEvses == [evse1])
        #expect(changes.errors.isEmpty)
        #expect(changes.abruptEnds.isEmpty)
        #expect(changes.skipped == 0)
    }

    @Test("a forwarding outcome is an entry of its session's timeline and leaves the session's summary as it was")
    func deliveryEntry() throws {
        var recorder = Recorder()
        var fold = FoldState()
        _ = fold.fold([try recorder.record(.error)])
        let before = try #require(fold.sessions[Body.sessionID])
        let data = #"{"session_id":"\#(Body.sessionID)","event_id":"e","position":1,"notification_type":"Error","attempt":1,"at":"2026-11-27T10:00:01.500Z","outcome":"delivered","result":true,"status_code":"000","latency_ms":42}"#
        let forwarded = PreparedEvent(
            FoldEvent(position: 2, streamID: "delivery-\(Body.sessionID)", eventID: UUID(), type: "NotificationForwarded", data: data)
        )
        let stranger = PreparedEvent(
            FoldEvent(position: 3, streamID: "delivery-nobody", eventID: UUID(), type: "NotificationForwarded", data: data.replacingOccurrences(of: Body.sessionID, with: "nobody"))
        )

        let changes = fold.fold([forwarded, stranger])

        let entry = try #require(changes.timeline.first)
        #expect(changes.timeline.count == 1)
        #expect(entry.seq == 2 && entry.eventType == "NotificationForwarded" && entry.notificationType == "Error")
        #expect(entry.receivedAt == (try stamp("2026-11-27T10:00:01.500Z")))
        #expect(entry.details == #"{"outcome":"delivered","attempt":1,"status_code":"000","latency_ms":42,"event_id":"e","position":1}"#)
        var after = before
        after.eventCount = 2
        #expect(fold.sessions[Body.sessionID] == after, "only the entry count moves")
        #expect(changes.skipped == 1, "a delivery of a session the ledger does not know is skipped")
        #expect(changes.errors.isEmpty && changes.touchedEvses.isEmpty)
    }

    @Test("each event adds one timeline entry, numbered 1, 2, 3 … with its event's identity")
    func timelineEntries() throws {
        var recorder = Recorder()
        let events = try [NotificationType.start, .error, .progress, .end].map { try recorder.record($0) }
        var fold = FoldState()

        let timeline = fold.fold(events).timeline

        #expect(timeline.map(\.seq) == [1, 2, 3, 4])
        #expect(timeline.map(\.position) == [1, 2, 3, 4])
        #expect(timeline.map(\.eventID) == events.map(\.event.eventID))
        #expect(timeline.map(\.sessionID) == Array(repeating: Body.sessionID, count: 4))
        #expect(timeline.map(\.evseID) == Array(repeating: evse1, count: 4))
        #expect(
            timeline.map(\.eventType) == [
                "ChargingStarted", "ChargingErrorReported", "ChargingProgressed", "ChargingEnded",
            ])
        #expect(timeline.map(\.notificationType) == ["Start", "Error", "Progress", "End"])
        #expect(timeline.map(\.receivedAt) == [try received(0), try received(1), try received(2), try received(3)])
        #expect(fold.sessions[Body.sessionID]?.eventCount == 4)
    }

    @Test("occurredAt: Start→ChargingStart, Progress→EventOccurred, End→ChargingEnd, Error→none")
    func occurredAt() throws {
        var recorder = Recorder()
        let events = try [NotificationType.start, .error, .progress, .end].map { try recorder.record($0) }
        var fold = FoldState()

        let timeline = fold.fold(events).timeline

        #expect(
            timeline.map(\.occurredAt) == [
                try stamp("2024-05-14T09:32:10+02:00"),  // ChargingStart
                nil,
                try stamp("2024-05-14T09:47:10+02:00"),  // EventOccurred
                try stamp("2024-05-14T11:05:42+02:00"),  // ChargingEnd
            ])
    }

    @Test(
        "details hold the notification's figures for its type, in the fold's member order",
        arguments: exampleDetails)
    func details(type: NotificationType, expected: String) throws {
        var recorder = Recorder()
        var fold = FoldState()

        let entry = try #require(fold.fold([try recorder.record(type)]).timeline.first)

        #expect(try parseJSON(entry.details) == parseJSON(expected))
    }

    @Test("details leave out members the notification does not carry")
    func detailsOmitAbsentMembers() throws {
        var recorder = Recorder()
        let end = try recorder.record(
            .end,
            edits: [
                ("\"ConsumedEnergy\": 22.253,", "\"SessionEnd\": \"2024-05-14T11:06:00+02:00\","),
                ("\"PartnerProductID\": \"AC3\",", "\"PartnerProductID\": \"AC3\""),
                ("\"PenaltyTimeStart\": \"2024-05-14T11:35:42+02:00\"", ""),
            ])
        var fold = FoldState()

        let entry = try #require(fold.fold([end]).timeline.first)

        let details = try parseObject(entry.details)
        #expect(
            details.keys == [
                "ChargingStart", "SessionStart", "SessionEnd", "MeterValueStart", "MeterValueEnd",
                "MeterValueInBetween", "PartnerProductID",
            ])
        #expect(details["SessionEnd"] == .string("2024-05-14T11:06:00+02:00"))
    }

    @Test("an Error entry has its ErrorType and ErrorAdditionalInfo; other entries have neither")
    func errorFieldsOnEntries() throws {
        var recorder = Recorder()
        let events = try [NotificationType.start, .error, .progress].map { try recorder.record($0) }
        var fold = FoldState()

        let timeline = fold.fold(events).timeline

        #expect(timeline.map(\.errorType) == [nil, "CriticalError", nil])
        #expect(timeline.map(\.errorAdditionalInfo) == [nil, groundFault, nil])
        #expect(timeline.map(\.phase) == [nil, .duringCharging, nil])
    }

    @Test("CPO and EMP partner session ids come from the notifications; a later one replaces an earlier one")
    func partnerSessionIDs() throws {
        var recorder = Recorder()
        let events = [
            try recorder.record(.start, edits: [addEMPPartnerSessionID("emp-1")]),
            try recorder.record(.progress),
            try recorder.record(
                .end,
                edits: [
                    addEMPPartnerSessionID("emp-2"),
                    ("\"cpo-tx-2024-05-14-000417\"", "\"cpo-tx-corrected\""),
                ]),
        ]
        var fold = FoldState()

        _ = fold.fold(Array(events[0...1]))
        let afterProgress = try #require(fold.sessions[Body.sessionID])
        _ = fold.fold([events[2]])
        let afterEnd = try #require(fold.sessions[Body.sessionID])

        #expect(afterProgress.empPartnerSessionID == "emp-1")
        #expect(afterProgress.cpoPartnerSessionID == "cpo-tx-2024-05-14-000417")
        #expect(afterEnd.empPartnerSessionID == "emp-2")
        #expect(afterEnd.cpoPartnerSessionID == "cpo-tx-corrected")
    }

    // MARK: Consumed energy

    @Test(
        "consumedEnergy: End's ConsumedEnergy, else the meter difference, else the latest Progress's figure",
        arguments: EndFigures.all)
    func consumedEnergy(figures: EndFigures) throws {
        var recorder = Recorder()
        var events = [try recorder.record(.start)]
        if figures.afterProgress { events.append(try recorder.record(.progress)) }
        events.append(try recorder.record(.end, edits: figures.edits))
        var fold = FoldState()

        _ = fold.fold(events)

        let state = try #require(fold.sessions[Body.sessionID])
        #expect(state.consumedEnergy?.thousandths == figures.consumed)
        #expect(state.status == .ended)
    }

    @Test("the latest Progress's ConsumedEnergyProgress counts until the End; a Progress after the End changes nothing")
    func consumedEnergyFollowsLatestProgress() throws {
        var recorder = Recorder()
        let events = [
            try recorder.record(.start),
            try recorder.record(.progress),  // 2.75
            try recorder.record(.progress, edits: [progressEnergy("7.5")]),
            try recorder.record(.end, edits: [noConsumedEnergy, noMeterValueEnd]),
            try recorder.record(.progress, edits: [progressEnergy("9.125")]),
        ]
        var fold = FoldState()

        var consumed: [Int64?] = []
        var statuses: [SessionStatus] = []
        for event in events {
            _ = fold.fold([event])
            let state = try #require(fold.sessions[Body.sessionID])
            consumed.append(state.consumedEnergy?.thousandths)
            statuses.append(state.status)
        }

        #expect(consumed == [nil, 2_750, 7_500, 7_500, 7_500])
        #expect(statuses == [.charging, .charging, .charging, .ended, .ended])
    }

    @Test("chargingStart is the Start's ChargingStart; a later Progress or End does not replace it")
    func chargingStartFromStart() throws {
        var recorder = Recorder()
        let events = [
            try recorder.record(.start),
            try recorder.record(.progress, edits: [chargingStartAt("09:30:00")]),
            try recorder.record(.end, edits: [chargingStartAt("09:31:00")]),
        ]
        var fold = FoldState()

        _ = fold.fold(events)

        #expect(fold.sessions[Body.sessionID]?.chargingStart == (try stamp("2024-05-14T09:32:10+02:00")))
    }

    @Test("without a Start, chargingStart is the Progress's, not the End's")
    func chargingStartFromProgress() throws {
        var recorder = Recorder()
        let events = [
            try recorder.record(.progress, edits: [chargingStartAt("09:30:00")]),
            try recorder.record(.end, edits: [chargingStartAt("09:31:00")]),
        ]
        var fold = FoldState()

        _ = fold.fold(events)

        #expect(fold.sessions[Body.sessionID]?.chargingStart == (try stamp("2024-05-14T09:30:00+02:00")))
    }

    /// SessionState.chargingStart is documented as "from Start, else Progress, else End": a Start
    /// that arrives after a Progress or End still gives the session its ChargingStart.
    @Test(
        "a Start arriving after a Progress or End still gives chargingStart",
        arguments: [NotificationType.progress, .end])
    func chargingStartFromLateStart(early: NotificationType) throws {
        var recorder = Recorder()
        let events = [
            try recorder.record(early, edits: [chargingStartAt("09:30:00")]),
            try recorder.record(.start),
        ]
        var fold = FoldState()

        _ = fold.fold(events)

        #expect(fold.sessions[Body.sessionID]?.chargingStart == (try stamp("2024-05-14T09:32:10+02:00")))
    }

    // MARK: Error phases

    @Test("an Error before any Start is before_charging and leaves the session errored")
    func errorBeforeCharging() throws {
        var recorder = Recorder()
        let error = try recorder.record(.error)
        var fold = FoldState()

        let changes = fold.fold([error])

        let entry = try #require(changes.timeline.first)
        #expect(entry.phase == .beforeCharging)
        #expect(changes.errors.count == 1)
        let row = try #require(changes.errors.first)
        #expect(row.position == 1)
        #expect(row.eventID == error.event.eventID)
        #expect(row.evseID == evse1)
        #expect(row.operatorID == "DE*A36")
        #expect(row.sessionID == Body.sessionID)
        #expect(row.sessionSeq == 1)
        #expect(row.errorType == "CriticalError")
        #expect(row.errorAdditionalInfo == groundFault)
        #expect(row.receivedAt == (try received(0)))
        #expect(row.phase == .beforeCharging)
        let state = try #require(fold.sessions[Body.sessionID])
        #expect(state.status == .errored)
        #expect(state.chargingStarted == false)
        #expect(state.errorCount == 1)
        #expect(state.firstErrorAt == (try received(0)))
        #expect(state.lastErrorAt == (try received(0)))
        #expect(state.lastErrorType == "CriticalError")
        #expect(state.openErrors.isEmpty)
    }

    @Test("an Error before charging stays before_charging when the End follows, in one batch or two")
    func errorBeforeChargingThenEnd() throws {
        var recorder = Recorder()
        let events = [try recorder.record(.error), try recorder.record(.end)]

        var oneBatch = FoldState()
        let together = oneBatch.fold(events)
        var twoBatches = FoldState()
        _ = twoBatches.fold([events[0]])
        let later = twoBatches.fold([events[1]])

        #expect(together.errors.map(\.phase) == [.beforeCharging])
        #expect(together.timeline.map(\.phase) == [.beforeCharging, nil])
        #expect(together.abruptEnds.isEmpty)
        #expect(later.abruptEnds.isEmpty)
        #expect(oneBatch.sessions[Body.sessionID]?.status == .ended)
    }

    @Test("an Error after a Start is during_charging, the session errored and the error open")
    func errorDuringCharging() throws {
        var recorder = Recorder()
        let events = [try recorder.record(.start), try recorder.record(.error)]
        var fold = FoldState()

        let changes = fold.fold(events)

        #expect(changes.timeline.map(\.phase) == [nil, .duringCharging])
        #expect(changes.errors.map(\.phase) == [.duringCharging])
        #expect(changes.errors.map(\.sessionSeq) == [2])
        let state = try #require(fold.sessions[Body.sessionID])
        #expect(state.status == .errored)
        #expect(state.openErrors == [2])
    }

    @Test("a Progress after an Error resumes charging; the Error stays during_charging when the End comes")
    func progressAfterErrorResumesCharging() throws {
        var recorder = Recorder()
        let events = try [NotificationType.start, .error, .progress, .end].map { try recorder.record($0) }

        var oneByOne = FoldState()
        var statuses: [SessionStatus] = []
        var marks: [AbruptEnd] = []
        var openAfterProgress: [Int64] = []
        for event in events {
            let changes = oneByOne.fold([event])
            let state = try #require(oneByOne.sessions[Body.sessionID])
            statuses.append(state.status)
            marks += changes.abruptEnds
            if event.event.position == 3 { openAfterProgress = state.openErrors }
        }
        var together = FoldState()
        let changes = together.fold(events)

        #expect(statuses == [.charging, .errored, .charging, .ended])
        #expect(openAfterProgress.isEmpty)
        #expect(marks.isEmpty)
        #expect(changes.errors.map(\.phase) == [.duringCharging])
        #expect(changes.timeline.map(\.phase) == [nil, .duringCharging, nil, nil])
        #expect(changes.abruptEnds.isEmpty)
    }

    @Test("Error then End in the same batch: the error is re-marked abrupt_end in place")
    func abruptEndWithinBatch() throws {
        var recorder = Recorder()
        let events = try [NotificationType.start, .error, .end].map { try recorder.record($0) }
        var fold = FoldState()

        let changes = fold.fold(events)

        #expect(changes.timeline.map(\.phase) == [nil, .abruptEnd, nil])
        #expect(changes.errors.map(\.phase) == [.abruptEnd])
        #expect(changes.errors.map(\.position) == [2])
        #expect(changes.abruptEnds.isEmpty)
        let state = try #require(fold.sessions[Body.sessionID])
        #expect(state.status == .ended)
        #expect(state.openErrors.isEmpty)
    }

    @Test("Error then End in different batches: the End's batch reports the earlier error as an abrupt end")
    func abruptEndAcrossBatches() throws {
        var recorder = Recorder()
        let events = try [NotificationType.start, .error, .end].map { try recorder.record($0) }
        var fold = FoldState()

        let first = fold.fold(Array(events[0...1]))
        let openBeforeEnd = fold.sessions[Body.sessionID]?.openErrors
        let second = fold.fold([events[2]])

        #expect(first.errors.map(\.phase) == [.duringCharging])
        #expect(first.abruptEnds.isEmpty)
        #expect(openBeforeEnd == [2])
        #expect(second.abruptEnds.map(\.sessionID) == [Body.sessionID])
        #expect(second.abruptEnds.map(\.position) == [2])
        #expect(second.errors.isEmpty)
        #expect(second.timeline.map(\.notificationType) == ["End"])
        #expect(second.timeline.map(\.phase) == [nil])
        let state = try #require(fold.sessions[Body.sessionID])
        #expect(state.status == .ended)
        #expect(state.openErrors.isEmpty)
    }

    @Test(
        "Errors on both sides of a batch boundary before the End: the earlier is reported, the later re-marked in place"
    )
    func abruptEndMixedBatches() throws {
        var recorder = Recorder()
        let events = try [NotificationType.start, .error, .error, .end].map { try recorder.record($0) }
        var fold = FoldState()

        _ = fold.fold(Array(events[0...1]))
        let second = fold.fold(Array(events[2...3]))

        #expect(second.errors.map(\.position) == [3])
        #expect(second.errors.map(\.phase) == [.abruptEnd])
        #expect(second.timeline.map(\.phase) == [.abruptEnd, nil])
        #expect(second.abruptEnds.map(\.position) == [2])
        #expect(second.abruptEnds.map(\.sessionID) == [Body.sessionID])
    }

    @Test("an Error after the End is abrupt_end and the session stays ended")
    func errorAfterEnd() throws {
        var recorder = Recorder()
        let events = try [NotificationType.start, .end, .error].map { try recorder.record($0) }
        var fold = FoldState()

        let changes = fold.fold(events)

        #expect(changes.timeline.map(\.phase) == [nil, nil, .abruptEnd])
        #expect(changes.errors.map(\.phase) == [.abruptEnd])
        #expect(changes.abruptEnds.isEmpty)
        let state = try #require(fold.sessions[Body.sessionID])
        #expect(state.status == .ended)
        #expect(state.errorCount == 1)
        #expect(state.openErrors.isEmpty)
        #expect(state.lastErrorAt == (try received(2)))
    }

    @Test("only the first openErrorLimit open errors become abrupt_end when the End comes")
    func openErrorLimit() throws {
        var recorder = Recorder()
        let limit = SessionState.openErrorLimit
        var events = [try recorder.record(.start)]
        for _ in 0...limit { events.append(try recorder.record(.error)) }
        events.append(try recorder.record(.end))
        var fold = FoldState()

        let changes = fold.fold(events)

        #expect(changes.errors.count == limit + 1)
        #expect(changes.errors.prefix(limit).allSatisfy { $0.phase == .abruptEnd })
        #expect(changes.errors.last?.phase == .duringCharging)
        #expect(changes.timeline.filter { $0.phase == .abruptEnd }.count == limit)
    }

    // MARK: EVSE summary

    @Test("the EVSE counts errors per ErrorType, the first and last error, and the session once")
    func evseErrorCounts() throws {
        var recorder = Recorder()
        let events = [
            try recorder.record(.start),
            try recorder.record(.error),
            try recorder.record(.error, edits: [connectorError]),
            try recorder.record(.error),
        ]
        var fold = FoldState()

        _ = fold.fold(events)

        var expected = EvseSummary(evseID: evse1, operatorID: "DE*A36")
        expected.errorCounts = ["CriticalError": 2, "ConnectorError": 1]
        expected.firstErrorAt = try received(1)
        expected.lastErrorAt = try received(3)
        expected.sessions = 1
        expected.sessionsWithErrors = 1
        expected.lastSessionID = Body.sessionID
        expected.lastSessionStatus = .errored
        expected.lastSessionReceivedAt = try received(0)
        #expect(fold.evses == [evse1: expected])
        #expect(fold.evses[evse1]?.errorCount == 3)
        #expect(fold.sessions[Body.sessionID]?.lastErrorType == "CriticalError")
    }

    @Test("a session counts at the EVSE of its first notification; an error counts at the EVSE it names")
    func sessionCountsAtFirstEvse() throws {
        var recorder = Recorder()
        let events = [try recorder.record(.start, evse: evse1), try recorder.record(.error, evse: evse2)]
        var fold = FoldState()

        let changes = fold.fold(events)

        let home = try #require(fold.evses[evse1])
        let elsewhere = try #require(fold.evses[evse2])
        #expect(home.sessions == 1)
        #expect(home.sessionsWithErrors == 1)
        #expect(home.errorCounts == [:])
        #expect(home.firstErrorAt == nil)
        #expect(home.lastSessionID == Body.sessionID)
        #expect(home.lastSessionStatus == .errored)
        #expect(elsewhere.sessions == 0)
        #expect(elsewhere.sessionsWithErrors == 0)
        #expect(elsewhere.errorCounts == ["CriticalError": 1])
        #expect(elsewhere.firstErrorAt == (try received(1)))
        #expect(elsewhere.lastSessionID == nil)
        #expect(fold.sessions[Body.sessionID]?.evseID == evse1)
        #expect(changes.errors.map(\.evseID) == [evse2])
        #expect(changes.timeline.map(\.evseID) == [evse1, evse2])
        #expect(changes.touchedEvses == [evse1, evse2])
    }

    @Test("sessionsWithErrors counts each session with an error once")
    func sessionsWithErrors() throws {
        var recorder = Recorder()
        let events = [
            try recorder.record(.start, session: sessionA),
            try recorder.record(.error, session: sessionA),
            try recorder.record(.error, session: sessionA, edits: [connectorError]),
            try recorder.record(.start, session: sessionB),
            try recorder.record(.end, session: sessionB),
            try recorder.record(.error, session: sessionC),
        ]
        var fold = FoldState()

        _ = fold.fold(events)

        let summary = try #require(fold.evses[evse1])
        #expect(summary.sessions == 3)
        #expect(summary.sessionsWithErrors == 2)
        #expect(summary.errorCounts == ["CriticalError": 2, "ConnectorError": 1])
    }

    @Test(
        "lastSession is the most recently started session, with its status; an older session's events do not take over"
    )
    func lastSessionFollowsNewest() throws {
        var recorder = Recorder()
        let events = [
            try recorder.record(.start, session: sessionA),
            try recorder.record(.start, session: sessionB),
            try recorder.record(.error, session: sessionA),
            try recorder.record(.error, session: sessionB),
            try recorder.record(.end, session: sessionA),
            try recorder.record(.progress, session: sessionB),
            try recorder.record(.end, session: sessionB),
        ]
        var fold = FoldState()

        var ids: [String?] = []
        var statuses: [SessionStatus?] = []
        for event in events {
            _ = fold.fold([event])
            ids.append(fold.evses[evse1]?.lastSessionID)
            statuses.append(fold.evses[evse1]?.lastSessionStatus)
        }

        #expect(ids == [sessionA, sessionB, sessionB, sessionB, sessionB, sessionB, sessionB])
        #expect(statuses == [.charging, .charging, .charging, .errored, .errored, .charging, .ended])
        #expect(fold.evses[evse1]?.lastSessionReceivedAt == (try received(1)))
        #expect(fold.evses[evse1]?.sessions == 2)
    }

    @Test("a session first received earlier than the EVSE's last session does not take over, whenever it is folded")
    func lastSessionByFirstReceivedAt() throws {
        var recorder = Recorder()
        let events = [
            try recorder.record(.start, session: sessionA, at: 10),
            try recorder.record(.start, session: sessionB, at: 5),
            try recorder.record(.end, session: sessionB, at: 11),
            try recorder.record(.start, session: sessionC, at: 20),
        ]
        var fold = FoldState()

        _ = fold.fold(Array(events[0...2]))
        let beforeC = try #require(fold.evses[evse1])
        _ = fold.fold([events[3]])
        let afterC = try #require(fold.evses[evse1])

        #expect(beforeC.lastSessionID == sessionA)
        #expect(beforeC.lastSessionStatus == .charging)
        #expect(beforeC.lastSessionReceivedAt == (try received(10)))
        #expect(beforeC.sessions == 2)
        #expect(afterC.lastSessionID == sessionC)
        #expect(afterC.lastSessionReceivedAt == (try received(20)))
        #expect(afterC.sessions == 3)
    }

    // MARK: Events the timelines do not show

    @Test("quarantine events are skipped and change nothing")
    func quarantineSkipped() throws {
        var recorder = Recorder()
        var fold = FoldState()
        _ = fold.fold([try recorder.record(.start)])
        let sessionsBefore = fold.sessions
        let evsesBefore = fold.evses
        let rejected = try NotificationDecision.rejection(
            rawBody: Array(Body.example("invalid-error").utf8),
            problems: [ValidationProblem(pointer: "/SessionID", message: "SessionID does not match the pattern")],
            context: context())
        let dropped = NotificationDecision.rejectionsDropped(
            count: 3, windowStart: receivedAt, windowEnd: receivedAt.addingTimeInterval(60), context: context())

        let changes = fold.fold([prepared(rejected, position: 2), prepared(dropped, position: 3)])

        #expect(changes.skipped == 2)
        #expect(changes.timeline.isEmpty)
        #expect(changes.errors.isEmpty)
        #expect(changes.abruptEnds.isEmpty)
        #expect(changes.touchedSessions.isEmpty)
        #expect(changes.touchedEvses.isEmpty)
        #expect(fold.sessions == sessionsBefore)
        #expect(fold.evses == evsesBefore)
        #expect(prepared(rejected, position: 2).sessionID == nil)
        #expect(prepared(rejected, position: 2).evseID == nil)
    }

    @Test(
        "a lifecycle event whose data cannot be read is skipped",
        arguments: [
            "not json", "", "[]", "{}", #"{"session_id":"x""#,
            eventData(notification: nil), eventData(notification: "[]"), eventData(evseID: nil),
            eventData(operatorID: nil), eventData(receivedAt: "yesterday"), eventData(receivedAt: nil),
        ])
    func unreadableDataSkipped(data: String) throws {
        let event = PreparedEvent(
            FoldEvent(
                position: 1, streamID: "session-\(Body.sessionID)", eventID: UUID(), type: "ChargingStarted", data: data
            ))
        var fold = FoldState()

        let changes = fold.fold([event])

        #expect(changes.skipped == 1)
        #expect(changes.timeline.isEmpty)
        #expect(changes.touchedSessions.isEmpty)
        #expect(changes.touchedEvses.isEmpty)
        #expect(fold.sessions.isEmpty)
        #expect(fold.evses.isEmpty)
    }

    @Test("the minimal data those cases break is itself read: one entry, nothing skipped")
    func minimalDataFolds() throws {
        let event = PreparedEvent(
            FoldEvent(position: 1, streamID: "session-x", eventID: UUID(), type: "ChargingStarted", data: eventData()))
        var fold = FoldState()

        let changes = fold.fold([event])

        #expect(changes.skipped == 0)
        #expect(changes.timeline.map(\.sessionID) == ["x"])
        #expect(changes.timeline.map(\.details) == ["{}"])
        #expect(fold.sessions["x"]?.status == .charging)
    }

    @Test("an event type the timelines do not know is skipped, even with a lifecycle event's data")
    func unknownTypeSkipped() throws {
        let decided = try NotificationDecision.decide(
            try notification(.start), rawBody: Body.start, lifecycle: SessionLifecycle(), context: context())
        let event = PreparedEvent(
            FoldEvent(
                position: 1, streamID: decided.stream, eventID: decided.id, type: "SomethingElse", data: decided.data))
        var fold = FoldState()

        let changes = fold.fold([event])

        #expect(changes.skipped == 1)
        #expect(fold.sessions.isEmpty)
    }

    @Test("skipped events between lifecycle events take no seq")
    func skippedTakeNoSeq() throws {
        var recorder = Recorder()
        let start = try recorder.record(.start)
        let rejected = try NotificationDecision.rejection(
            rawBody: Array("{".utf8), problems: [ValidationProblem(pointer: "", message: "not JSON")],
            context: context())
        _ = recorder.skipPosition()
        let progress = try recorder.record(.progress)
        var fold = FoldState()

        let changes = fold.fold([start, prepared(rejected, position: 2), progress])

        #expect(changes.skipped == 1)
        #expect(changes.timeline.map(\.seq) == [1, 2])
        #expect(changes.timeline.map(\.position) == [1, 3])
        #expect(fold.sessions[Body.sessionID]?.eventCount == 2)
        #expect(fold.sessions[Body.sessionID]?.lastPosition == 3)
    }

    @Test("without session_id in data the session comes from the stream name")
    func sessionIDFromStream() throws {
        var recorder = Recorder()
        let start = try recorder.record(.start)
        let data = Body.editing(start.event.data, [("\"session_id\":\"\(Body.sessionID)\",", "")])
        var event = start.event
        event.streamID = "session-\(Body.otherSessionID)"
        event.data = data
        let prepared = PreparedEvent(event)
        var fold = FoldState()

        _ = fold.fold([prepared])

        #expect(prepared.sessionID == Body.otherSessionID)
        #expect(prepared.evseID == evse1)
        #expect(Array(fold.sessions.keys) == [Body.otherSessionID])
    }

    // MARK: Batches

    @Test("folding in one batch or split into batches gives the same states and rows (seeded random sessions)")
    func batchSplitsAgree() throws {
        let events = try randomEvents(sessions: 300, seed: 0x5EED_2026)

        let whole = foldInBatches(events, sizes: [events.count])
        var splits: [[Int]] = [Array(repeating: 1, count: events.count)]
        for seed in UInt64(1)...4 {
            var random = SplitMix64(seed: seed)
            splits.append((0..<events.count).map { _ in Int.random(in: 1...40, using: &random) })
        }

        // The scenario must exercise what the property is about.
        #expect(whole.skipped > 0)
        #expect(whole.errors.contains { $0.phase == .abruptEnd })
        #expect(whole.errors.contains { $0.phase == .duringCharging })
        #expect(whole.errors.contains { $0.phase == .beforeCharging })
        #expect(whole.timeline.count + whole.skipped == events.count)
        for sizes in splits {
            let split = foldInBatches(events, sizes: sizes)
            #expect(split.marksAcrossBatches > 0)
            #expect(split.skipped == whole.skipped)
            let differingSessions = whole.sessions.keys.sorted().filter { whole.sessions[$0] != split.sessions[$0] }
            #expect(split.sessions.count == whole.sessions.count)
            #expect(differingSessions.isEmpty, "sessions differ: \(differingSessions.prefix(3))")
            let differingEvses = whole.evses.keys.sorted().filter { whole.evses[$0] != split.evses[$0] }
            #expect(split.evses.count == whole.evses.count)
            #expect(differingEvses.isEmpty, "EVSEs differ: \(differingEvses)")
            #expect(split.timeline.count == whole.timeline.count)
            let row = whole.timeline.indices.first {
                $0 >= split.timeline.count || whole.timeline[$0] != split.timeline[$0]
            }
            #expect(row == nil, "first differing timeline row: \(String(describing: row.map { whole.timeline[$0] }))")
            #expect(split.errors.count == whole.errors.count)
            let error = whole.errors.indices.first { $0 >= split.errors.count || whole.errors[$0] != split.errors[$0] }
            #expect(error == nil, "first differing error row: \(String(describing: error.map { whole.errors[$0] }))")
        }
    }

    // MARK: Anomalies

    @Test("an End before any Start carries end_before_start into the entry's anomalies and anomalyCount")
    func endBeforeStartAnomaly() throws {
        var recorder = Recorder()
        let events = [try recorder.record(.end), try recorder.record(.start)]
        var fold = FoldState()

        let first = fold.fold([events[0]])
        let afterEnd = try #require(fold.sessions[Body.sessionID])
        let second = fold.fold([events[1]])
        let afterStart = try #require(fold.sessions[Body.sessionID])

        let endEntry = try #require(first.timeline.first)
        #expect(
            try parseJSON(endEntry.anomalies)
                == .array([
                    anomalyJSON("end_before_start", "End received before any Start for this session")
                ]))
        #expect(afterEnd.anomalyCount == 1)
        #expect(afterEnd.status == .ended)
        #expect(afterEnd.chargingStarted == false)
        #expect(afterEnd.chargingStart == (try stamp("2024-05-14T09:32:10+02:00")))
        let startEntry = try #require(second.timeline.first)
        #expect(
            try parseJSON(startEntry.anomalies)
                == .array([
                    anomalyJSON("notification_after_end", "Start received after the session's End")
                ]))
        #expect(afterStart.anomalyCount == 2)
        #expect(afterStart.status == .ended)
    }

    @Test("an entry without anomalies stores an empty array")
    func noAnomalies() throws {
        var recorder = Recorder()
        var fold = FoldState()

        let entry = try #require(fold.fold([try recorder.record(.start)]).timeline.first)

        #expect(entry.anomalies == "[]")
        #expect(fold.sessions[Body.sessionID]?.anomalyCount == 0)
    }

    @Test("the validator's anomalies and the lifecycle's both reach the entry and the count")
    func validatorAndLifecycleAnomalies() throws {
        var recorder = Recorder()
        let progress = try recorder.record(
            .progress, edits: [("\"ChargingDuration\": 900000", "\"ChargingDuration\": 48000")])
        var fold = FoldState()

        let entry = try #require(fold.fold([progress]).timeline.first)

        let codes = try #require(try parseJSON(entry.anomalies).arrayValue).map { $0["code"] }
        #expect(codes == [.string("charging_duration_mismatch"), .string("progress_before_start")])
        #expect(fold.sessions[Body.sessionID]?.anomalyCount == 2)
    }

    // MARK: SessionState and EvseSummary

    @Test(
        "errorPhase: before_charging, during_charging once started, abrupt_end once ended",
        arguments: [
            (false, false, ErrorPhase.beforeCharging),
            (true, false, .duringCharging),
            (false, true, .abruptEnd),
            (true, true, .abruptEnd),
        ])
    func errorPhase(chargingStarted: Bool, ended: Bool, expected: ErrorPhase) throws {
        var state = SessionState(
            sessionID: Body.sessionID, evseID: evse1, operatorID: "DE*A36", firstReceivedAt: try received(0))
        state.chargingStarted = chargingStarted
        state.ended = ended

        #expect(state.errorPhase == expected)
    }

    @Test("a new SessionState is authorized with nothing counted")
    func newSessionState() throws {
        let state = SessionState(
            sessionID: Body.sessionID, evseID: evse1, operatorID: "DE*A36", firstReceivedAt: try received(7))

        #expect(state.status == .authorized)
        #expect(!state.chargingStarted && !state.ended)
        #expect(state.eventCount == 0 && state.errorCount == 0 && state.anomalyCount == 0)
        #expect(state.lastReceivedAt == (try received(7)))
        #expect(state.lastPosition == 0)
        #expect(state.openErrors.isEmpty)
        #expect(state.consumedEnergy == nil && state.chargingStart == nil && state.chargingEnd == nil)
    }

    @Test("the phase and status names are the stored spellings")
    func rawValues() {
        #expect(ErrorPhase.allCases.map(\.rawValue) == ["before_charging", "during_charging", "abrupt_end"])
        #expect(SessionStatus.allCases.map(\.rawValue) == ["authorized", "charging", "errored", "ended"])
    }

    @Test("EvseSummary.errorCount sums the counts per ErrorType")
    func evseErrorCountSum() {
        var summary = EvseSummary(evseID: evse1, operatorID: "DE*A36")
        let empty = summary.errorCount
        summary.errorCounts = ["CriticalError": 4, "ConnectorError": 3]

        #expect(empty == 0)
        #expect(summary.errorCount == 7)
    }
}

// MARK: - Fixtures

private let evse1 = "DE*A36*E0001*1"
private let evse2 = "DE*A36*E0002*1"
private let sessionA = Body.sessionID
private let sessionB = Body.otherSessionID
private let sessionC = Body.errorSessionID
private let groundFault =
    "Ground fault detected (RCD tripped) 4 min after charging start; station requires on-site inspection"

private let connectorError = ("\"ErrorType\": \"CriticalError\"", "\"ErrorType\": \"ConnectorError\"")
private let noConsumedEnergy = ("\"ConsumedEnergy\": 22.253,", "")
private let noMeterValueEnd = ("\"MeterValueEnd\": 12367.931,", "")

/// The details the fold stores for each example notification.
private let exampleDetails: [(NotificationType, String)] = [
    (.start, startDetails), (.progress, progressDetails), (.end, endDetails), (.error, "{}"),
]
private let startDetails: String =
    #"{"SessionStart":"2024-05-14T09:31:48+02:00","MeterValueStart":12345.678,"PartnerProductID":"AC3"}"#
private let progressDetails: String =
    #"{"ChargingStart":"2024-05-14T09:32:10+02:00","ChargingDuration":900000,"ConsumedEnergyProgress":2.75,"#
    + #""MeterValueStart":12345.678,"MeterValueInBetween":{"meterValues":[12346.912,12348.428]}}"#
private let endDetails: String =
    #"{"ChargingStart":"2024-05-14T09:32:10+02:00","SessionStart":"2024-05-14T09:31:48+02:00","#
    + #""ConsumedEnergy":22.253,"MeterValueStart":12345.678,"MeterValueEnd":12367.931,"#
    + #""MeterValueInBetween":{"meterValues":[12346.912,12348.428,12357.004]},"#
    + #""PenaltyTimeStart":"2024-05-14T11:35:42+02:00","PartnerProductID":"AC3"}"#

private func progressEnergy(_ kWh: String) -> (String, String) {
    ("\"ConsumedEnergyProgress\": 2.75", "\"ConsumedEnergyProgress\": \(kWh)")
}

private func chargingStartAt(_ time: String) -> (String, String) {
    ("\"ChargingStart\": \"2024-05-14T09:32:10+02:00\"", "\"ChargingStart\": \"2024-05-14T\(time)+02:00\"")
}

private func addEMPPartnerSessionID(_ id: String) -> (String, String) {
    ("\"CPOPartnerSessionID\":", "\"EMPPartnerSessionID\": \"\(id)\",\n  \"CPOPartnerSessionID\":")
}

/// An End's energy figures (after a Start with MeterValueStart 12345.678 and, if so, a Progress
/// with ConsumedEnergyProgress 2.75) and the consumption the session ends with, in Wh.
struct EndFigures: Sendable, CustomTestStringConvertible {
    let name: String
    let afterProgress: Bool
    let edits: [(String, String)]
    let consumed: Int64?

    var testDescription: String { name }

    static let all = [
        EndFigures(name: "ConsumedEnergy as sent", afterProgress: true, edits: [], consumed: 22_253),
        EndFigures(
            name: "ConsumedEnergy over the meter values", afterProgress: true,
            edits: [("\"ConsumedEnergy\": 22.253,", "\"ConsumedEnergy\": 20.5,")], consumed: 20_500),
        EndFigures(
            name: "MeterValueEnd − the End's own MeterValueStart", afterProgress: true,
            edits: [
                ("\"ConsumedEnergy\": 22.253,", ""), ("\"MeterValueStart\": 12345.678,", "\"MeterValueStart\": 12340,"),
                ("\"MeterValueEnd\": 12367.931,", "\"MeterValueEnd\": 12350,"),
            ], consumed: 10_000),
        EndFigures(
            name: "MeterValueEnd − the Start's MeterValueStart when the End has none", afterProgress: true,
            edits: [
                ("\"ConsumedEnergy\": 22.253,", ""), ("\"MeterValueStart\": 12345.678,", ""),
                ("\"MeterValueEnd\": 12367.931,", "\"MeterValueEnd\": 12350,"),
            ], consumed: 4_322),
        EndFigures(
            name: "the Progress's figure when the End has neither", afterProgress: true,
            edits: [("\"ConsumedEnergy\": 22.253,", ""), ("\"MeterValueEnd\": 12367.931,", "")], consumed: 2_750),
        EndFigures(
            name: "the Progress's figure when MeterValueEnd is below MeterValueStart", afterProgress: true,
            edits: [
                ("\"ConsumedEnergy\": 22.253,", ""), ("\"MeterValueEnd\": 12367.931,", "\"MeterValueEnd\": 12000,"),
            ],
            consumed: 2_750),
        EndFigures(
            name: "nothing when no notification has a figure", afterProgress: false,
            edits: [("\"ConsumedEnergy\": 22.253,", ""), ("\"MeterValueEnd\": 12367.931,", "")], consumed: nil),
    ]
}

/// Records notifications as ingestion does: each decided against its session's lifecycle so far,
/// given the next global position and, unless told otherwise, received `position - 1` seconds
/// after `receivedAt`.
private struct Recorder {
    private(set) var position: Int64 = 0
    private var lifecycles: [String: SessionLifecycle] = [:]

    /// The example body of `type` for `session` at `evse`, with `edits` applied, as a stored event.
    mutating func record(
        _ type: NotificationType, session: String = Body.sessionID, evse: String = evse1,
        edits: [(String, String)] = [], at second: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> PreparedEvent {
        var body = Body.setting("SessionID", to: session, in: Body.of(type), sourceLocation: sourceLocation)
        body = Body.setting("EvseID", to: evse, in: body, sourceLocation: sourceLocation)
        if !edits.isEmpty { body = Body.editing(body, edits, sourceLocation: sourceLocation) }
        let lifecycle = lifecycles[session] ?? SessionLifecycle()
        position += 1
        let time = receivedAt.addingTimeInterval(Double(second ?? Int(position - 1)))
        let decided = try NotificationDecision.decide(
            try validated(body, sourceLocation: sourceLocation), rawBody: body, lifecycle: lifecycle,
            context: context(receivedAt: time))
        lifecycles[session, default: SessionLifecycle()].apply(eventType: decided.type.rawValue)
        return prepared(decided, position: position)
    }

    /// A refused notification, stored in the quarantine at the next position.
    mutating func reject(at second: Int) throws -> PreparedEvent {
        position += 1
        let decided = try NotificationDecision.rejection(
            rawBody: Array(Body.example("invalid-error").utf8),
            problems: [ValidationProblem(pointer: "/EvseID", message: "EvseID does not match the pattern")],
            context: context(receivedAt: receivedAt.addingTimeInterval(Double(second))))
        return prepared(decided, position: position)
    }

    /// Takes a position for an event built elsewhere.
    mutating func skipPosition() -> Int64 {
        position += 1
        return position
    }
}

/// The event as the projector hands it to the fold.
private func prepared(_ decided: DecidedEvent, position: Int64) -> PreparedEvent {
    PreparedEvent(
        FoldEvent(
            position: position, streamID: decided.stream, eventID: decided.id, type: decided.type.rawValue,
            data: decided.data))
}

/// The states a projector carries from one batch to the next.
private struct FoldState {
    var sessions: [String: SessionState] = [:]
    var evses: [String: EvseSummary] = [:]

    mutating func fold(_ events: [PreparedEvent]) -> TimelineChanges {
        TimelineFold.fold(events, sessions: &sessions, evses: &evses)
    }
}

/// What folding a whole stream produced: the final states and every row written, with later
/// batches' `abruptEnds` applied to the rows earlier batches wrote.
private struct FoldOutcome {
    var sessions: [String: SessionState] = [:]
    var evses: [String: EvseSummary] = [:]
    var timeline: [TimelineEntry] = []
    var errors: [ErrorEntry] = []
    var skipped = 0
    /// How many `abruptEnds` marks batches returned for rows of earlier batches.
    var marksAcrossBatches = 0
}

/// Folds `events` in consecutive batches of the given sizes (the last batch takes what is left).
private func foldInBatches(
    _ events: [PreparedEvent], sizes: [Int], sourceLocation: SourceLocation = #_sourceLocation
) -> FoldOutcome {
    var outcome = FoldOutcome()
    var timelineRow: [Int64: Int] = [:]
    var errorRow: [Int64: Int] = [:]
    var start = 0
    var batches = sizes.makeIterator()
    while start < events.count {
        let end = min(events.count, start + max(1, batches.next() ?? events.count))
        let changes = TimelineFold.fold(events[start..<end], sessions: &outcome.sessions, evses: &outcome.evses)
        let batchPositions = Set(changes.timeline.map(\.position))
        for mark in changes.abruptEnds {
            guard !batchPositions.contains(mark.position), let row = timelineRow[mark.position],
                let error = errorRow[mark.position], outcome.timeline[row].sessionID == mark.sessionID
            else {
                Issue.record("abrupt end \(mark) names no error of an earlier batch", sourceLocation: sourceLocation)
                continue
            }
            outcome.timeline[row].phase = .abruptEnd
            outcome.errors[error].phase = .abruptEnd
            outcome.marksAcrossBatches += 1
        }
        for entry in changes.timeline {
            timelineRow[entry.position] = outcome.timeline.count
            outcome.timeline.append(entry)
        }
        for entry in changes.errors {
            errorRow[entry.position] = outcome.errors.count
            outcome.errors.append(entry)
        }
        outcome.skipped += changes.skipped
        start = end
    }
    return outcome
}

/// A notification one session will send, before it is recorded.
private struct Planned {
    var type: NotificationType
    var session: String
    var evse: String
    var edits: [(String, String)] = []
}

/// `sessions` sessions at four EVSEs, half following OICP's order (Start, Progress/Error …, End,
/// sometimes an Error after the End), half in any order; their notifications interleaved at
/// random (each session's in its own order), received within ±5 s of their position so first
/// received-at and position order disagree now and then, with a rejected notification now and then.
private func randomEvents(sessions count: Int, seed: UInt64) throws -> [PreparedEvent] {
    var random = SplitMix64(seed: seed)
    let evses = (1...4).map { "DE*A36*E000\($0)*1" }
    var plans: [[Planned]] = []
    for index in 0..<count {
        let session = String(format: "%08x-0000-4000-8000-%012lx", UInt32(seed & 0xFFFF_FFFF), index)
        let home = evses.randomElement(using: &random)!
        var types: [NotificationType]
        if Bool.random(using: &random) {
            types = [.start]
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                types.append(Bool.random(using: &random) ? .progress : .error)
            }
            if Int.random(in: 0..<5, using: &random) > 0 { types.append(.end) }
            if Int.random(in: 0..<8, using: &random) == 0 { types.append(.error) }
        } else {
            types = (0..<Int.random(in: 1...6, using: &random)).map { _ in
                NotificationType.allCases.randomElement(using: &random)!
            }
        }
        plans.append(
            types.map { type in
                var planned = Planned(type: type, session: session, evse: home)
                switch type {
                case .start:
                    break
                case .progress:
                    planned.edits = [progressEnergy(["1.5", "2.75", "7.125", "12"].randomElement(using: &random)!)]
                case .end:
                    planned.edits = [[], [noConsumedEnergy], [noConsumedEnergy, noMeterValueEnd]].randomElement(
                        using: &random)!
                case .error:
                    if Bool.random(using: &random) { planned.edits = [connectorError] }
                    if Int.random(in: 0..<5, using: &random) == 0 {
                        planned.evse = evses.randomElement(using: &random)!
                    }
                }
                return planned
            })
    }

    var recorder = Recorder()
    var events: [PreparedEvent] = []
    var next = Array(repeating: 0, count: plans.count)
    var active = Array(plans.indices)
    while !active.isEmpty {
        let second = max(0, Int(recorder.position) + Int.random(in: -5...5, using: &random))
        if Int.random(in: 0..<30, using: &random) == 0 {
            events.append(try recorder.reject(at: second))
            continue
        }
        let pick = Int.random(in: 0..<active.count, using: &random)
        let session = active[pick]
        let planned = plans[session][next[session]]
        events.append(
            try recorder.record(
                planned.type, session: planned.session, evse: planned.evse, edits: planned.edits, at: second))
        next[session] += 1
        if next[session] == plans[session].count { active.remove(at: pick) }
    }
    return events
}

/// An OICP timestamp from its text (parsed by OICP's `Timestamp`, not by the fold).
private func stamp(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Timestamp {
    try #require(Timestamp(text), "not an RFC 3339 timestamp: \(text)", sourceLocation: sourceLocation)
}

/// The received-at of a notification received `second` seconds after `receivedAt`.
private func received(_ second: Int, sourceLocation: SourceLocation = #_sourceLocation) throws -> Timestamp {
    try stamp(
        String(format: "2026-11-27T10:%02d:%02d.250Z", second / 60, second % 60), sourceLocation: sourceLocation)
}

/// Lifecycle event data with the members the fold reads, each left out when nil; valid as it stands.
private func eventData(
    evseID: String? = evse1, operatorID: String? = "DE*A36", receivedAt: String? = "2026-11-27T10:00:00.250Z",
    notification: String? = "{}"
) -> String {
    let members = [
        #""session_id":"x""#,
        evseID.map { #""evse_id":"\#($0)""# },
        operatorID.map { #""operator_id":"\#($0)""# },
        receivedAt.map { #""received_at":"\#($0)""# },
        notification.map { #""notification":\#($0)"# },
    ]
    return "{" + members.compactMap { $0 }.joined(separator: ",") + "}"
}

/// An anomaly as the ledger stores it in `data.anomalies`.
private func anomalyJSON(_ code: String, _ message: String) -> JSONValue {
    .object(JSONObject([("code", .string(code)), ("message", .string(message))]))
}
