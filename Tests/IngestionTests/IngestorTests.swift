import EventStore
import Foundation
import Ingestion
import JSON
import Ledger
import OICP
import Postgres
import TestSupport
import Testing

/// The example bodies of Tests/fixtures/oicp.
func example(_ name: String) throws -> [UInt8] {
    let url = repositoryRoot().appendingPathComponent("Tests/fixtures/oicp/\(name).json")
    return Array(try Data(contentsOf: url))
}

func makeIngestor(_ configuration: Ingestor.Configuration = .init()) async throws -> (Ingestor, EventStore) {
    let store = try await EventStore.open(configuration: .init(url: try await TestDatabase.create()))
    return (Ingestor(store: store, configuration: configuration), store)
}

func context(_ at: Date = Date(), key: String? = nil) -> IngestContext {
    IngestContext(receivedAt: at, client: "test", idempotencyKey: key, requestID: "req-1", source: "test")
}

func parse(_ json: String) throws -> JSONValue {
    try JSONParser.parse(Array(json.utf8), maxDepth: 32, maxBytes: 1 << 20)
}

func anomalyCodes(_ event: RecordedEvent) throws -> [String] {
    try parse(event.data)["anomalies"]?.arrayValue?.compactMap { $0["code"]?.stringValue } ?? []
}

@Suite("Ingestion", .serialized)
struct IngestorTests {
    let session = "3fe7378a-238f-4cf3-bca6-de657881f8c2"

    @Test("two ingestors (two instances) on one session: each one's remembered lifecycle goes stale, and the expected version catches it")
    func staleLifecycleCache() async throws {
        let (first, store) = try await makeIngestor()
        defer { store.close() }
        let second = Ingestor(store: store)
        _ = try await first.ingest(try example("start"), context: context())  // first remembers version 1
        _ = try await second.ingest(try example("progress"), context: context())  // second never saw the session
        let end = try await first.ingest(try example("end"), context: context())  // first's memory is stale
        guard case .appended(let range) = end.disposition else {
            Issue.record("end: \(end.disposition)")
            return
        }
        #expect(range.streamVersion == 3)
        let events = try await store.readStream(StreamName.session(session))
        #expect(events.map(\.eventType) == ["ChargingStarted", "ChargingProgressed", "ChargingEnded"])
        #expect(events.map(\.streamVersion) == [1, 2, 3])
        #expect(try events.allSatisfy { try anomalyCodes($0).isEmpty }, "each decision saw the stream as stored, not as remembered")
    }

    @Test("a session's notifications are recorded in order and acknowledged with 000")
    func sessionLifecycle() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        for name in ["start", "progress", "end"] {
            let outcome = try await ingestor.ingest(try example(name), context: context())
            guard case .appended = outcome.disposition else {
                Issue.record("\(name): \(outcome.disposition)")
                continue
            }
            #expect(outcome.acknowledgement.result)
            #expect(outcome.acknowledgement.statusCode.code == "000")
            #expect(outcome.acknowledgement.sessionID == session)
        }
        let events = try await store.readStream(StreamName.session(session))
        #expect(events.map(\.eventType) == ["ChargingStarted", "ChargingProgressed", "ChargingEnded"])
        #expect(try events.allSatisfy { try anomalyCodes($0).isEmpty })
        let end = try parse(events[2].data)
        #expect(end["occurred_at"]?.stringValue == "2024-05-14T11:05:42+02:00")
        #expect(end["notification"]?["ConsumedEnergy"]?.numberText == "22.253", "the notification is kept as sent")
        let metadata = try parse(events[2].metadata)
        #expect(metadata["client"]?.stringValue == "test")
        #expect(metadata["request_id"]?.stringValue == "req-1")
    }

    @Test("a replay returns the first acknowledgement and stores nothing")
    func replay() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        let first = try await ingestor.ingest(try example("start"), context: context())
        let again = try await ingestor.ingest(try example("start"), context: context())
        guard case .appended(let original) = first.disposition, case .alreadyAppended(let replayed) = again.disposition else {
            Issue.record("got \(first.disposition), then \(again.disposition)")
            return
        }
        #expect(original == replayed)
        #expect(first.acknowledgement == again.acknowledgement)
        #expect(try await store.readStream(StreamName.session(session)).count == 1)
    }

    @Test("a second, different Start is recorded with start_repeated; its own replay is not stored again")
    func differentSecondStart() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        _ = try await ingestor.ingest(try example("start"), context: context())
        let corrected = Array(String(decoding: try example("start"), as: UTF8.self).replacingOccurrences(of: "09:32:10", with: "09:33:00").utf8)
        let second = try await ingestor.ingest(corrected, context: context())
        guard case .appended = second.disposition else {
            Issue.record("a different Start was taken for a replay: \(second.disposition)")
            return
        }
        #expect(second.anomalies.map(\.code) == ["start_repeated"])
        let again = try await ingestor.ingest(corrected, context: context())
        guard case .alreadyAppended = again.disposition else {
            Issue.record("the second Start's replay was stored: \(again.disposition)")
            return
        }
        // The same bytes with other whitespace are the same notification.
        let reformatted = Array(String(decoding: corrected, as: UTF8.self).replacingOccurrences(of: "\n", with: " ").utf8)
        guard case .alreadyAppended = try await ingestor.ingest(reformatted, context: context()).disposition else {
            Issue.record("whitespace made a replay a new notification")
            return
        }
        #expect(try await store.readStream(StreamName.session(session)).count == 2)
    }

    @Test("an Idempotency-Key reused for a different notification is refused")
    func keyReused() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        _ = try await ingestor.ingest(try example("error"), context: context(key: "k-9"))
        let other = Array(String(decoding: try example("error"), as: UTF8.self).replacingOccurrences(of: "CriticalError", with: "ConnectorError").utf8)
        let error = try await #require(throws: IngestError.self) { try await ingestor.ingest(other, context: context(key: "k-9")) }
        #expect(error.code == .idempotencyKeyReused)
        #expect(try await store.readStream(StreamName.session("8d571ee6-bb6f-4b1b-b82a-318c8866b4d0")).count == 1)
    }

    /// Ends the store's commit connections from the server side, so that the next commit finds
    /// its connection gone and group commit retries the batch on a fresh one.
    private func killCommitConnections(_ store: EventStore) async throws {
        let killed = try await store.pool.run { session in
            try session.query(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE application_name = 'error-ledger-commit' AND datname = current_database()"
            ).rows.first?.decode(Int.self, column: 0) ?? 0
        }
        #expect(killed > 0, "no commit connection to end")
    }

    @Test("after a lost connection, a corrected Start with the Start's identity is stored, not taken for the stored one")
    func correctedStartAfterLostConnection() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        _ = try await ingestor.ingest(try example("start"), context: context())
        try await killCommitConnections(store)
        let corrected = Array(String(decoding: try example("start"), as: UTF8.self).replacingOccurrences(of: "09:32:10", with: "09:33:00").utf8)
        let second = try await ingestor.ingest(corrected, context: context())
        guard case .appended = second.disposition else {
            Issue.record("the corrected Start was acknowledged as \(second.disposition)")
            return
        }
        #expect(try await store.readStream(StreamName.session(session)).count == 2, "acknowledged with 000 and not stored")
    }

    @Test("after a lost connection, an Idempotency-Key reused for another body is still refused")
    func keyReusedAfterLostConnection() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        _ = try await ingestor.ingest(try example("error"), context: context(key: "k-lost"))
        try await killCommitConnections(store)
        let other = Array(String(decoding: try example("error"), as: UTF8.self).replacingOccurrences(of: "CriticalError", with: "ConnectorError").utf8)
        let error = try await #require(throws: IngestError.self) { try await ingestor.ingest(other, context: context(key: "k-lost")) }
        #expect(error.code == .idempotencyKeyReused)
    }

    @Test("an event found without a content digest is no replay unless configured so")
    func undigestedEventIsNoReplay() async throws {
        for acceptUndigested in [false, true] {
            let (ingestor, store) = try await makeIngestor(.init(undigestedEventsAreReplays: acceptUndigested))
            defer { store.close() }
            // A Start stored under the Start's natural id by a ledger that kept no digest.
            let validated = try #require(try? ingestor.validator.validate(try example("start")).get())
            let decided = try NotificationDecision.decide(validated, rawBody: "{}", lifecycle: SessionLifecycle(), context: context())
            _ = try await store.append(
                to: decided.stream, expected: .noStream,
                events: [NewEvent(id: decided.id, type: decided.type.rawValue, data: decided.data, metadata: #"{"client":"old"}"#)]
            )
            let outcome = try await ingestor.ingest(try example("start"), context: context())
            let count = try await store.readStream(StreamName.session(session)).count
            if acceptUndigested {
                guard case .alreadyAppended = outcome.disposition else {
                    Issue.record("configured to accept undigested replays, got \(outcome.disposition)")
                    continue
                }
                #expect(count == 1)
            } else {
                guard case .appended = outcome.disposition else {
                    Issue.record("an undigested event was taken for a replay: \(outcome.disposition)")
                    continue
                }
                #expect(count == 2)
            }
        }
    }

    @Test("a number PostgreSQL cannot store is a 022 naming the field, not a failed commit; the largest it can store is kept", arguments: [
        ("1e200000", false), ("1e131072", false), ("0.0e-20000", false), ("1e-16384", false), ("-1e99999999999", false),
        ("1e131071", true), ("1e-16383", true), ("0e200000", true), ("-12.5E+3", true),
    ])
    func poisonNumbers(literal: String, storable: Bool) async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        let body = String(decoding: try example("error"), as: UTF8.self).replacingOccurrences(
            of: "\"Type\"", with: "\"X\": {\"deep\": [\(literal)]}, \"Type\"")
        let outcome = try await ingestor.ingest(Array(body.utf8), context: context())
        switch outcome.disposition {
        case .appended:
            #expect(storable, "\(literal) was stored")
        case .rejected(let problems):
            #expect(!storable, "\(literal) was refused: \(problems)")
            #expect(problems.map(\.pointer) == ["/X/deep/0"])
            #expect(outcome.acknowledgement.statusCode.code == "022")
        case .alreadyAppended:
            Issue.record("a replay")
        }
    }

    @Test("a keyless Error sent again within the window is a replay, after it a new fact; with an Idempotency-Key it is stored once")
    func errorIdempotency() async throws {
        let (ingestor, store) = try await makeIngestor(.init(errorReplayWindow: .seconds(600)))
        defer { store.close() }
        let body = try example("error")
        let start = Date()
        let first = try await ingestor.ingest(body, context: context(start))
        // A client that timed out sends the same Error again, whitespace aside.
        let reformatted = Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "\n", with: "").utf8)
        let retried = try await ingestor.ingest(reformatted, context: context(start.addingTimeInterval(30)))
        guard case .appended(let original) = first.disposition, case .alreadyAppended(let replayed) = retried.disposition else {
            Issue.record("a keyless retry: \(first.disposition), then \(retried.disposition)")
            return
        }
        #expect(original == replayed, "the replay names where the first is stored")
        #expect(first.acknowledgement == retried.acknowledgement)
        // Another instance, which never saw it, reads the session and finds it too.
        let other = Ingestor(store: store, configuration: .init(errorReplayWindow: .seconds(600)))
        guard case .alreadyAppended = try await other.ingest(body, context: context(start.addingTimeInterval(60))).disposition else {
            Issue.record("another ingestor stored the retry")
            return
        }
        // Other content, or the same after the window, is a new fact.
        let otherContent = Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "CriticalError", with: "ConnectorError").utf8)
        guard case .appended = try await ingestor.ingest(otherContent, context: context(start.addingTimeInterval(90))).disposition,
            case .appended = try await ingestor.ingest(body, context: context(start.addingTimeInterval(700))).disposition
        else {
            Issue.record("a different Error, or the same after the window, was taken for a replay")
            return
        }
        let keyed1 = try await ingestor.ingest(body, context: context(key: "k-1"))
        let keyed2 = try await ingestor.ingest(body, context: context(key: "k-1"))
        guard case .alreadyAppended = keyed2.disposition else {
            Issue.record("second keyed send: \(keyed2.disposition)")
            return
        }
        #expect(keyed1.eventID == keyed2.eventID)
        #expect(try await store.readStream(StreamName.session("8d571ee6-bb6f-4b1b-b82a-318c8866b4d0")).count == 4)

        // With the window off, every keyless Error is recorded.
        let (plain, plainStore) = try await makeIngestor(.init(errorReplayWindow: .zero))
        defer { plainStore.close() }
        _ = try await plain.ingest(body, context: context(start))
        _ = try await plain.ingest(body, context: context(start))
        #expect(try await plainStore.readStream(StreamName.session("8d571ee6-bb6f-4b1b-b82a-318c8866b4d0")).count == 2)
    }

    @Test("a session belongs to its first notification's EVSE and operator: another EvseID or OperatorID is a 022 naming it")
    func sessionOwner() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        _ = try await ingestor.ingest(try example("start"), context: context())
        let progress = String(decoding: try example("progress"), as: UTF8.self)
        for (from, to, pointer) in [("DE*A36*E0001*1", "DE*B12*E0001*1", "/EvseID"), ("\"OperatorID\": \"DE*A36\"", "\"OperatorID\": \"DE*B12\"", "/OperatorID")] {
            let outcome = try await ingestor.ingest(Array(progress.replacingOccurrences(of: from, with: to).utf8), context: context())
            guard case .rejected(let problems) = outcome.disposition else {
                Issue.record("\(pointer) of another session owner was recorded: \(outcome.disposition)")
                continue
            }
            #expect(problems.map(\.pointer) == [pointer])
            #expect(outcome.acknowledgement.statusCode.code == "022")
        }
        // The same operator and EVSE written otherwise (case, optional `*`) are the same.
        let respelled = progress.replacingOccurrences(of: "\"OperatorID\": \"DE*A36\"", with: "\"OperatorID\": \"dea36\"")
        guard case .appended = try await ingestor.ingest(Array(respelled.utf8), context: context()).disposition else {
            Issue.record("DEA36 was not taken for DE*A36")
            return
        }
        // Another instance that never saw the session reads its owner from the stream.
        let other = Ingestor(store: store)
        let end = String(decoding: try example("end"), as: UTF8.self).replacingOccurrences(of: "DE*A36*E0001*1", with: "DE*A36*E0009*1")
        guard case .rejected = try await other.ingest(Array(end.utf8), context: context()).disposition else {
            Issue.record("another ingestor recorded an End at another EVSE")
            return
        }
        #expect(try await store.readStream(StreamName.session(session)).count == 2)
        let quarantined = try await store.readStream(StreamName.quarantine(day: Date()))
        #expect(quarantined.count == 3, "every refusal is quarantined")
    }

    @Test("lifecycle anomalies are recorded, not rejected")
    func lifecycleAnomalies() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        _ = try await ingestor.ingest(try example("progress"), context: context())
        _ = try await ingestor.ingest(try example("start"), context: context())
        _ = try await ingestor.ingest(try example("end"), context: context())
        var error = String(decoding: try example("error"), as: UTF8.self)
        error = error.replacingOccurrences(of: "8d571ee6-bb6f-4b1b-b82a-318c8866b4d0", with: session)
            .replacingOccurrences(of: "DE*A36*E0002*1", with: "DE*A36*E0001*1")
        _ = try await ingestor.ingest(Array(error.utf8), context: context())
        let events = try await store.readStream(StreamName.session(session))
        #expect(try events.map(anomalyCodes) == [["progress_before_start"], [], [], ["notification_after_end"]])
    }

    @Test("cross-field inconsistencies are accepted and recorded as anomalies")
    func fieldAnomalies() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        let body = String(decoding: try example("end"), as: UTF8.self).replacingOccurrences(of: "22.253", with: "30.000")
        let outcome = try await ingestor.ingest(Array(body.utf8), context: context())
        #expect(outcome.anomalies.map(\.code).contains("consumed_energy_mismatch"))
        let stored = try #require(try await store.readStream(StreamName.session(session)).first)
        #expect(try anomalyCodes(stored).contains("consumed_energy_mismatch"))
    }

    @Test("a refused notification gets 022 with every problem, and lands in the quarantine")
    func refusedIsQuarantined() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        let outcome = try await ingestor.ingest(try example("invalid-error"), context: context(now))
        guard case .rejected(let problems) = outcome.disposition else {
            Issue.record("accepted an invalid body")
            return
        }
        #expect(problems.count == 7)
        #expect(!outcome.acknowledgement.result)
        #expect(outcome.acknowledgement.statusCode.code == "022")
        #expect(outcome.acknowledgement.statusCode.additionalInfo?.contains("/ErrorType") == true)

        let quarantined = try await store.readStream(StreamName.quarantine(day: now))
        #expect(quarantined.map(\.eventType) == ["NotificationRejected"])
        let stored = try #require(quarantined.first).data
        let data = try parse(stored)
        #expect(data["problem_count"]?.numberText == "7")
        #expect(data["raw_encoding"]?.stringValue == "utf-8")
        #expect(data["raw"] == nil && data["problems"] == nil, "kept sealed: the body and the reasons may quote an identification")
        let kept = try await opened(stored, store)
        #expect(kept["problems"]?.arrayValue?.count == 7)
        #expect(kept["raw"]?.stringValue == String(decoding: try example("invalid-error"), as: UTF8.self))
    }

    /// A quarantine event's sealed part (db/0019), opened with its key.
    func opened(_ data: String, _ store: EventStore) async throws -> JSONValue {
        let sealed = try #require(NotificationDecision.sealedRejection(ofData: data))
        let key = try #require(try await store.identificationKeys(ids: [sealed.keyID])[sealed.keyID])
        return try parse(String(decoding: try #require(SealedBox.open(sealed.box, with: key)), as: UTF8.self))
    }

    @Test("garbage bytes are refused cleanly and kept as base64")
    func garbage() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        let now = Date()
        let outcome = try await ingestor.ingest([0xFF, 0xFE, 0x00, 0x7B], context: context(now))
        guard case .rejected = outcome.disposition else {
            Issue.record("accepted garbage")
            return
        }
        let stored = try #require(try await store.readStream(StreamName.quarantine(day: now)).first).data
        #expect(try parse(stored)["raw_encoding"]?.stringValue == "base64")
        #expect(try await opened(stored, store)["raw"]?.stringValue == "//4Aew==")
    }

    @Test("a flood of bad input is capped per window, and what was dropped is counted")
    func quarantineCap() async throws {
        let (ingestor, store) = try await makeIngestor(.init(quarantinePerWindow: 2, quarantineWindow: .seconds(60)))
        defer { store.close() }
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        for i in 0..<5 { _ = try await ingestor.ingest(Array("{bad \(i)".utf8), context: context(start.addingTimeInterval(Double(i)))) }
        #expect(ingestor.quarantineDroppedTotal == 3)
        _ = try await ingestor.ingest(Array("{bad later".utf8), context: context(start.addingTimeInterval(61)))
        let events = try await store.readStream(StreamName.quarantine(day: start))
        #expect(events.map(\.eventType) == ["NotificationRejected", "NotificationRejected", "RejectionsDropped", "NotificationRejected"])
        #expect(try parse(events[2].data)["dropped"]?.numberText == "3")
    }

    @Test("concurrent notifications for one session all land, in some order, with consecutive versions")
    func concurrentSameSession() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        _ = try await ingestor.ingest(try example("start"), context: context())
        let progress = String(decoding: try example("progress"), as: UTF8.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for minute in 10..<20 {
                let body = progress.replacingOccurrences(of: "09:47:10", with: "09:\(minute + 37):10")
                group.addTask { _ = try await ingestor.ingest(Array(body.utf8), context: context()) }
            }
            try await group.waitForAll()
        }
        let events = try await store.readStream(StreamName.session(session))
        #expect(events.map(\.streamVersion) == Array(1...11))
    }

    @Test("bulk import: refused lines are reported, and importing the same lines again stores nothing")
    func importBatch() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        let names = ["start", "progress", "invalid-error", "error", "error", "end"]
        // The two identical Error lines differ in their occurrence count, so both are kept.
        let lines = try names.enumerated().map { index, name in
            ImportLine(number: index + 1, bytes: try example(name), errorKey: "k-\(name)-\(names[..<index].filter { $0 == name }.count)")
        }
        let first = try await ingestor.importBatch(lines, context: context())
        #expect(first.map(label) == ["appended", "appended", "rejected", "appended", "appended", "appended"])
        let again = try await ingestor.importBatch(lines, context: context())
        #expect(again.map(label) == ["already", "already", "rejected", "already", "already", "already"])
        #expect(try await store.readStream(StreamName.session(session)).count == 3)
        #expect(try await store.readStream(StreamName.session("8d571ee6-bb6f-4b1b-b82a-318c8866b4d0")).count == 2)

        // Another archive with a different Start for the session: a second Start, recorded.
        let corrected = Array(String(decoding: try example("start"), as: UTF8.self).replacingOccurrences(of: "09:32:10", with: "09:33:00").utf8)
        let third = try await ingestor.importBatch([ImportLine(number: 1, bytes: corrected, errorKey: "x")], context: context())
        #expect(third.map(label) == ["appended"])
        #expect(try await store.readStream(StreamName.session(session)).count == 4)
        // That archive again: the second Start is found under its own id.
        let fourth = try await ingestor.importBatch([ImportLine(number: 1, bytes: corrected, errorKey: "x")], context: context())
        #expect(fourth.map(label) == ["already"])
        #expect(try await store.readStream(StreamName.session(session)).count == 4)
    }

    @Test("one import batch with a Start and a second, different Start: both recorded, and both found when imported again")
    func importStartAndCorrection() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        let corrected = Array(String(decoding: try example("start"), as: UTF8.self).replacingOccurrences(of: "09:32:10", with: "09:33:00").utf8)
        let lines = [
            ImportLine(number: 1, bytes: try example("start"), errorKey: "a"),
            ImportLine(number: 2, bytes: corrected, errorKey: "b"),
            ImportLine(number: 3, bytes: try example("progress"), errorKey: "c"),
        ]
        #expect(try await ingestor.importBatch(lines, context: context()).map(label) == ["appended", "appended", "appended"])
        #expect(try await ingestor.importBatch(lines, context: context()).map(label) == ["already", "already", "already"])
        let events = try await store.readStream(StreamName.session(session))
        #expect(events.map(\.eventType) == ["ChargingStarted", "ChargingStarted", "ChargingProgressed"])
        #expect(Set(events.map(\.eventID)).count == 3)
    }

    @Test("lines recorded again after a batch keep their file order within a session")
    func importRetriesInOrder() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        _ = try await ingestor.ingest(try example("start"), context: context())
        // The corrected Start is no replay (other content) and the Progress behind it expected
        // it in place: both are recorded again on their own, and must stay in this order.
        let corrected = Array(String(decoding: try example("start"), as: UTF8.self).replacingOccurrences(of: "09:32:10", with: "09:33:00").utf8)
        let lines = [
            ImportLine(number: 1, bytes: corrected, errorKey: "a"),
            ImportLine(number: 2, bytes: try example("progress"), errorKey: "b"),
        ]
        let outcomes = try await ingestor.importBatch(lines, context: context())
        #expect(outcomes.map(label) == ["appended", "appended"])
        let types = try await store.readStream(StreamName.session(session)).map(\.eventType)
        #expect(types == ["ChargingStarted", "ChargingStarted", "ChargingProgressed"])
    }

    @Test("a replayed line does not push its session's later lines behind other sessions' lines: an EVSE's errors stay in file order")
    func importReplayKeepsFileOrder() async throws {
        let (ingestor, store) = try await makeIngestor()
        defer { store.close() }
        _ = try await ingestor.ingest(try example("start"), context: context())
        let error = String(decoding: try example("error"), as: UTF8.self).replacingOccurrences(of: "DE*A36*E0002*1", with: "DE*A36*E0001*1")
        let ownError = error.replacingOccurrences(of: "8d571ee6-bb6f-4b1b-b82a-318c8866b4d0", with: session).replacingOccurrences(of: "CriticalError", with: "ConnectorError")
        let lines = [
            ImportLine(number: 1, bytes: try example("start"), errorKey: "a"),  // stored already: a replay
            ImportLine(number: 2, bytes: Array(ownError.utf8), errorKey: "b"),  // its session's next line
            ImportLine(number: 3, bytes: Array(error.utf8), errorKey: "c"),  // another session, same EVSE
        ]
        let outcomes = try await ingestor.importBatch(lines, context: context())
        #expect(outcomes.map(label) == ["already", "appended", "appended"])
        let own = try await store.readStream(StreamName.session(session)).last { $0.eventType == "ChargingErrorReported" }
        let others = try await store.readStream(StreamName.session("8d571ee6-bb6f-4b1b-b82a-318c8866b4d0")).first
        let ownPosition = try #require(own?.globalPosition), otherPosition = try #require(others?.globalPosition)
        #expect(ownPosition < otherPosition, "line 2 stored before line 3")
    }

    private func label(_ outcome: ImportLineOutcome) -> String {
        switch outcome {
        case .appended: "appended"
        case .alreadyAppended: "already"
        case .rejected: "rejected"
        case .failed(let message): "failed: \(message)"
        }
    }
}
