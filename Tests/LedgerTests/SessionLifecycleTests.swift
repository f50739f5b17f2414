import Ledger
import OICP
import Testing

@Suite("SessionLifecycle: fold over a session stream")
struct SessionLifecycleFoldTests {
    @Test("an empty stream is version 0, neither started nor ended")
    func emptyStream() {
        let state = SessionLifecycle.fold([String]())

        #expect(state == SessionLifecycle(version: 0, started: false, ended: false))
    }

    @Test("the version counts every event in the stream")
    func versionCountsEvents() {
        let state = SessionLifecycle.fold([
            "ChargingStarted", "ChargingProgressed", "ChargingProgressed", "ChargingErrorReported",
        ])

        #expect(state.version == 4)
    }

    @Test("ChargingStarted sets started and not ended")
    func startedFlag() {
        let state = SessionLifecycle.fold(["ChargingStarted"])

        #expect(state == SessionLifecycle(version: 1, started: true, ended: false))
    }

    @Test("ChargingEnded sets ended and not started")
    func endedFlag() {
        let state = SessionLifecycle.fold(["ChargingEnded"])

        #expect(state == SessionLifecycle(version: 1, started: false, ended: true))
    }

    @Test("Progress and Error events count toward the version but set no flag")
    func progressAndErrorSetNoFlag() {
        let state = SessionLifecycle.fold(["ChargingProgressed", "ChargingErrorReported"])

        #expect(state == SessionLifecycle(version: 2, started: false, ended: false))
    }

    @Test("an unknown event type counts toward the version but sets no flag")
    func unknownEventType() {
        let state = SessionLifecycle.fold(["SomethingElse", "chargingstarted"])

        #expect(state == SessionLifecycle(version: 2, started: false, ended: false))
    }

    @Test("a full session folds to started and ended with one version per event")
    func fullSession() {
        let state = SessionLifecycle.fold([
            "ChargingStarted", "ChargingProgressed", "ChargingErrorReported", "ChargingEnded",
        ])

        #expect(state == SessionLifecycle(version: 4, started: true, ended: true))
    }

    @Test("the flags are sticky: a Start after an End leaves the session ended")
    func flagsAreSticky() {
        let state = SessionLifecycle.fold(["ChargingStarted", "ChargingEnded", "ChargingStarted"])

        #expect(state == SessionLifecycle(version: 3, started: true, ended: true))
    }

    @Test("apply(eventType:) one event at a time gives the same state as fold")
    func applyMatchesFold() {
        let events = ["ChargingStarted", "ChargingProgressed", "ChargingEnded"]
        var state = SessionLifecycle()

        for event in events { state.apply(eventType: event) }

        #expect(state == SessionLifecycle.fold(events))
        #expect(state == SessionLifecycle(version: 3, started: true, ended: true))
    }

    @Test("apply(eventType:) continues from a given version")
    func applyContinuesFromVersion() {
        var state = SessionLifecycle(version: 41, started: true, ended: false)

        state.apply(eventType: "ChargingEnded")

        #expect(state == SessionLifecycle(version: 42, started: true, ended: true))
    }
}

@Suite("SessionLifecycle: lifecycle anomalies")
struct SessionLifecycleAnomalyTests {
    @Test("a second Start is start_repeated")
    func startRepeated() {
        let state = lifecycle(after: [.start])

        let anomalies = state.anomalies(receiving: .start)

        #expect(anomalies == [Anomaly(code: "start_repeated", message: "a second Start for this session")])
    }

    @Test("Progress before any Start is progress_before_start")
    func progressBeforeStart() {
        let state = lifecycle(after: [])

        let anomalies = state.anomalies(receiving: .progress)

        #expect(
            anomalies == [
                Anomaly(code: "progress_before_start", message: "Progress received before any Start for this session")
            ])
    }

    @Test("End before any Start is end_before_start")
    func endBeforeStart() {
        let state = lifecycle(after: [.progress])

        let anomalies = state.anomalies(receiving: .end)

        #expect(
            anomalies == [Anomaly(code: "end_before_start", message: "End received before any Start for this session")])
    }

    @Test("a second End is end_repeated and nothing else")
    func endRepeated() {
        let state = lifecycle(after: [.start, .end])

        let anomalies = state.anomalies(receiving: .end)

        #expect(anomalies == [Anomaly(code: "end_repeated", message: "a second End for this session")])
    }

    @Test("a second End with no Start is both end_before_start and end_repeated")
    func secondEndWithoutStart() {
        let state = lifecycle(after: [.end])

        let codes = state.anomalies(receiving: .end).map(\.code)

        #expect(codes == ["end_before_start", "end_repeated"])
    }

    @Test("Error after End is notification_after_end")
    func errorAfterEnd() {
        let state = lifecycle(after: [.start, .end])

        let anomalies = state.anomalies(receiving: .error)

        #expect(
            anomalies == [
                Anomaly(code: "notification_after_end", message: "Error received after the session's End")
            ])
    }

    @Test("Progress after End is notification_after_end only")
    func progressAfterEnd() {
        let state = lifecycle(after: [.start, .progress, .end])

        let anomalies = state.anomalies(receiving: .progress)

        #expect(
            anomalies == [
                Anomaly(code: "notification_after_end", message: "Progress received after the session's End")
            ])
    }

    @Test("Start after End is both start_repeated and notification_after_end")
    func startAfterEnd() {
        let state = lifecycle(after: [.start, .end])

        let codes = state.anomalies(receiving: .start).map(\.code)

        #expect(codes == ["start_repeated", "notification_after_end"])
    }

    @Test("Error before Start is normal: errors before charging starts raise no anomaly")
    func errorBeforeStart() {
        let state = lifecycle(after: [])

        let anomalies = state.anomalies(receiving: .error)

        #expect(anomalies == [])
    }

    @Test("the normal order Start, Progress, Progress, Error, End raises no anomaly at any step")
    func normalOrder() {
        var state = SessionLifecycle()
        var found: [String] = []

        for type in [NotificationType.start, .progress, .progress, .error, .end] {
            found += state.anomalies(receiving: type).map { "\(type.rawValue): \($0.code)" }
            state.apply(eventType: LedgerEventType(recording: type).rawValue)
        }

        #expect(found == [])
        #expect(state == SessionLifecycle(version: 5, started: true, ended: true))
    }
}

@Suite("LedgerEventType")
struct LedgerEventTypeTests {
    @Test("the stored event type names are fixed")
    func rawValues() {
        #expect(
            LedgerEventType.allCases.map(\.rawValue) == [
                "ChargingStarted", "ChargingProgressed", "ChargingEnded", "ChargingErrorReported",
                "NotificationRejected", "RejectionsDropped",
                "NotificationForwarded", "ForwardingAttemptFailed", "NotificationDeadLettered", "NotificationSuperseded",
                "DeliveryRetryRequested", "IdentificationErased",
            ])
    }

    @Test(
        "each notification type records its own event type",
        arguments: [
            (NotificationType.start, LedgerEventType.chargingStarted),
            (.progress, .chargingProgressed),
            (.end, .chargingEnded),
            (.error, .chargingErrorReported),
        ])
    func recording(type: NotificationType, expected: LedgerEventType) {
        #expect(LedgerEventType(recording: type) == expected)
    }
}
