import EventStore
import Foundation
import Ingestion
import JSON
import Ledger
import Postgres
import Testing
import TestSupport

/// Identifications kept sealed and erased (db/0019), against a real PostgreSQL: what a dump of
/// the database holds before and after, what the erasure records, and what stays countable.
@Suite("Identifications: sealed at rest, erased on request", .serialized)
struct ErasureTests {
    /// The UID of start/progress/end.json and the EVCO-ID of error.json, as sent.
    static let uid = "044A2DAA856280"
    static let evcoID = "DE-8EO-CAet5e4XY-3"

    /// A plain-text dump of the whole test database (`pg_dump`, every table and function).
    func dump(_ url: String) async throws -> String {
        let bin = try #require(ProcessInfo.processInfo.environment["LEDGER_TEST_PG_BIN"], "run through ./deploy/test")
        return try await shell("'\(bin)/pg_dump' --no-owner --no-privileges '\(url)'")
    }

    /// Whether `text` holds `value` in any case, with or without an EVCO-ID's separators.
    func holds(_ text: String, _ value: String) -> Bool {
        let folded = text.uppercased()
        return folded.contains(value.uppercased()) || folded.replacingOccurrences(of: "-", with: "").contains(value.uppercased().replacingOccurrences(of: "-", with: ""))
    }

    func open() async throws -> (Ingestor, EventStore, String) {
        let url = try await TestDatabase.create()
        let store = try await EventStore.open(configuration: .init(url: url))
        return (Ingestor(store: store), store, url)
    }

    @Test("no identification is stored in the clear: the event keeps the key's id, the body sealed; a replay is still a replay")
    func sealedAtRest() async throws {
        let (ingestor, store, url) = try await open()
        defer { store.close() }
        for name in ["start", "progress", "end", "error"] {
            let outcome = try await ingestor.ingest(try example(name), context: context())
            guard case .appended = outcome.disposition else { throw Failure("\(name): \(outcome.disposition)") }
        }
        let replay = try await ingestor.ingest(try example("start"), context: context())
        guard case .alreadyAppended = replay.disposition else { throw Failure("the Start again: \(replay.disposition)") }

        let dumped = try await dump(url)
        #expect(!holds(dumped, Self.uid), "the UID is nowhere in the database")
        #expect(!holds(dumped, Self.evcoID), "the EVCO-ID is nowhere in the database")
        let start = try #require(try await store.readStream(StreamName.session("3fe7378a-238f-4cf3-bca6-de657881f8c2")).first)
        let data = try parse(start.data)
        #expect(data["identification"]?["option"]?.stringValue == "RFIDMifareFamilyIdentification")
        #expect(data["notification"]?["Identification"] == nil)
        #expect(data["body"] == nil && data["body_sealed"]?["box"]?.stringValue != nil)
        // What the forwarder sends: the body as received, byte for byte, once opened.
        guard case .sealed(let keyID, let box, _)? = RecordedNotification.forwardable(ofData: start.data) else {
            throw Failure("the Start's body is not sealed")
        }
        let key = try #require(try await store.identificationKeys(ids: [keyID])[keyID])
        #expect(SealedBox.open(box, with: key) == (try example("start")))
    }

    @Test("erasing a UID deletes its key: the bodies cannot be opened, a dump holds neither value nor key, the erasure is an event, the chains verify")
    func eraseUID() async throws {
        let (ingestor, store, url) = try await open()
        defer { store.close() }
        for name in ["start", "progress", "end", "error"] { _ = try await ingestor.ingest(try example(name), context: context()) }
        let sealed = try await store.readStream(StreamName.session("3fe7378a-238f-4cf3-bca6-de657881f8c2")).compactMap {
            if case .sealed(let key, _, _)? = RecordedNotification.forwardable(ofData: $0.data) { key } else { nil }
        }
        #expect(Set(sealed).count == 1, "one key for the card's three notifications")
        let before = try await store.identificationKeys(ids: sealed)
        let keyHex = try #require(before.values.first.map { Hex.encode($0.bytes) })
        #expect(try await dump(url).contains(keyHex), "the key is in the database before")

        // Lower case, as a support ticket might quote it.
        let erased = try await ingestor.erase(.uid, value: Self.uid.lowercased(), requestedBy: "ticket DPO-17")
        #expect(erased.keysDeleted == 1)
        #expect(try await store.identificationKeys(ids: sealed).isEmpty)
        let dumped = try await dump(url)
        #expect(!dumped.contains(keyHex), "the key is gone")
        #expect(!holds(dumped, Self.uid))

        let record = try #require(try await store.readStream(StreamName.erasures(at: Date())).first)
        #expect(record.eventType == "IdentificationErased")
        let data = try parse(record.data)
        #expect(data["subject"]?.stringValue == erased.subject && data["kind"]?.stringValue == "UID")
        #expect(data["keys_deleted"]?.numberText == "1" && data["requested_by"]?.stringValue == "ticket DPO-17")
        #expect(!holds(record.data, Self.uid), "the erasure names a keyed hash, never the value")

        // The other driver's notification is untouched; every event is still there and chained.
        #expect(try await store.readStream(StreamName.session("3fe7378a-238f-4cf3-bca6-de657881f8c2")).count == 3)
        let report = try await EventStore.verifyChains(url: url)
        #expect(report.isIntact, "\(report.findings)")
        let again = try await ingestor.erase(.uid, value: Self.uid, requestedBy: "ticket DPO-17")
        #expect(again.keysDeleted == 0 && again.subject == erased.subject)
        #expect(try await store.readStream(StreamName.erasures(at: Date())).count == 2, "each request is recorded")

        // The card used again after its erasure gets a new key: recorded, readable.
        var body = String(decoding: try example("start"), as: UTF8.self)
        body = body.replacingOccurrences(of: "3fe7378a-238f-4cf3-bca6-de657881f8c2", with: "0b7e0c1e-4f57-4a4e-9e2e-3a7d2c4a1b00")
        let later = try await ingestor.ingest(Array(body.utf8), context: context())
        guard case .appended = later.disposition else { throw Failure("after the erasure: \(later.disposition)") }
        let newest = try #require(try await store.readStream(StreamName.session("0b7e0c1e-4f57-4a4e-9e2e-3a7d2c4a1b00")).first)
        guard case .sealed(let key, _, _)? = RecordedNotification.forwardable(ofData: newest.data) else { throw Failure("not sealed") }
        let stored = try await store.identificationKeys(ids: [key])
        #expect(!sealed.contains(key) && !stored.isEmpty)
    }

    @Test("an EVCO-ID, written without separators and in other case, erases the RFID card it was seen with")
    func eraseEvcoIDOfCard() async throws {
        let (ingestor, store, _) = try await open()
        defer { store.close() }
        var body = String(decoding: try example("start"), as: UTF8.self)
        body = body.replacingOccurrences(
            of: #""RFIDMifareFamilyIdentification": {"#,
            with: #""RFIDIdentification": {"RFID": "mifareCls", "EvcoID": "DE-8EO-CAet5e4XY-3","#
        )
        let outcome = try await ingestor.ingest(Array(body.utf8), context: context())
        guard case .appended = outcome.disposition else { throw Failure("\(outcome.disposition)") }
        let erased = try await ingestor.erase(.evcoID, value: "de8eocaet5e4xy3", requestedBy: "test")
        #expect(erased.keysDeleted == 1)
        let event = try #require(try await store.readStream(StreamName.session("3fe7378a-238f-4cf3-bca6-de657881f8c2")).first)
        guard case .sealed(let key, _, _)? = RecordedNotification.forwardable(ofData: event.data) else { throw Failure("not sealed") }
        #expect(try await store.identificationKeys(ids: [key]).isEmpty)
    }

    @Test("a refused body is kept sealed; the erasure of an identification in it shreds it, and only it")
    func quarantineSealed() async throws {
        let (ingestor, store, url) = try await open()
        defer { store.close() }
        let refused = try await ingestor.ingest(try example("invalid-error"), context: context())
        guard case .rejected = refused.disposition else { throw Failure("\(refused.disposition)") }
        var other = String(decoding: try example("invalid-error"), as: UTF8.self)
        other = other.replacingOccurrences(of: "12345abcd", with: "99999999").replacingOccurrences(of: "DE-8EO-CAet5e4XY-3", with: "DE-XXX-C00000000-0")
        _ = try await ingestor.ingest(Array(other.utf8), context: context())
        #expect(!holds(try await dump(url), "12345abcd"))
        let kept = try await store.readStream(StreamName.quarantine(day: Date())).compactMap { NotificationDecision.sealedRejection(ofData: $0.data) }
        #expect(kept.count == 2)

        let erased = try await ingestor.erase(.uid, value: "12345ABCD", requestedBy: "test")
        #expect(erased.keysDeleted == 1, "the first refusal's key: no notification was stored with that card")
        let left = try await store.identificationKeys(ids: kept.map(\.keyID))
        #expect(left.count == 1, "the other refusal stays readable")
        let survivor = try #require(kept.first { left[$0.keyID] != nil })
        let survivorKey = try #require(left[survivor.keyID])
        let opened = try #require(SealedBox.open(survivor.box, with: survivorKey))
        #expect(String(decoding: opened, as: UTF8.self).contains("99999999"))
    }

    @Test("a notification stored before db/0019, in the clear and with the plain digest, is still found as a replay")
    func earlierDigestIsAReplay() async throws {
        let (ingestor, store, _) = try await open()
        defer { store.close() }
        let validated = try #require(try? ingestor.validator.validate(try example("start")).get())
        let earlier = try NotificationDecision.decide(
            validated, rawBody: String(decoding: try example("start"), as: UTF8.self), lifecycle: SessionLifecycle(), context: context()
        )
        _ = try await store.append(to: earlier.stream, expected: .noStream, events: [NewEvent(id: earlier.id, type: earlier.type.rawValue, data: earlier.data, metadata: earlier.metadata)])
        let outcome = try await ingestor.ingest(try example("start"), context: context())
        guard case .alreadyAppended = outcome.disposition else { throw Failure("\(outcome.disposition)") }
        #expect(try await store.readStream(earlier.stream).count == 1)
    }

    /// `body` with its `Identification` replaced by `identification` (a JSON object's text).
    func identified(_ body: String, _ identification: String) throws -> [UInt8] {
        let start = try #require(body.range(of: #""Identification": {"#))
        let end = try #require(body.range(of: #""EvseID""#, range: start.upperBound..<body.endIndex))
        return Array((body[..<start.lowerBound] + #""Identification": "# + identification + ", " + body[end.lowerBound...]).utf8)
    }

    @Test("an import links every subject of a card: the EVCO-ID a later line carries erases the card's key")
    func importLinksEverySubject() async throws {
        let (ingestor, store, _) = try await open()
        defer { store.close() }
        let start = String(decoding: try example("start"), as: UTF8.self)
        let plain = try identified(start, #"{"RFIDIdentification": {"UID": "044A2DAA856280", "RFID": "mifareCls"}}"#)
        let withEvco = try identified(
            start.replacingOccurrences(of: "3fe7378a-238f-4cf3-bca6-de657881f8c2", with: "5a1b7c0e-9f57-4a4e-9e2e-3a7d2c4a1b00"),
            #"{"RFIDIdentification": {"UID": "044A2DAA856280", "RFID": "mifareCls", "EvcoID": "DE-8EO-CAet5e4XY-3"}}"#
        )
        let outcomes = try await ingestor.importBatch(
            [ImportLine(number: 1, bytes: plain, errorKey: "a"), ImportLine(number: 2, bytes: withEvco, errorKey: "b")], context: context()
        )
        #expect(outcomes.allSatisfy { if case .appended = $0 { true } else { false } }, "\(outcomes)")
        let erased = try await ingestor.erase(.evcoID, value: "DE8EOCAET5E4XY3", requestedBy: "test")
        #expect(erased.keysDeleted == 1, "the card's key, linked to the EVCO-ID by the second line")
    }

    @Test("the digest covers the whole identification: the same card with another printed number is another notification")
    func digestCoversIdentification() async throws {
        let (ingestor, store, url) = try await open()
        defer { store.close() }
        let start = String(decoding: try example("start"), as: UTF8.self)
        let first = try identified(start, #"{"RFIDIdentification": {"UID": "044A2DAA856280", "RFID": "mifareCls", "PrintedNumber": "4711"}}"#)
        let second = try identified(start, #"{"RFIDIdentification": {"UID": "044A2DAA856280", "RFID": "mifareCls", "PrintedNumber": "4712"}}"#)
        _ = try await ingestor.ingest(first, context: context())
        let again = try await ingestor.ingest(first, context: context())
        guard case .alreadyAppended = again.disposition else { throw Failure("the same Start: \(again.disposition)") }
        let other = try await ingestor.ingest(second, context: context())
        guard case .appended = other.disposition else { throw Failure("another printed number: \(other.disposition)") }
        #expect(!(try await dump(url)).contains("4711"), "the printed number is sealed too")
    }

    @Test("an Error without a key stored before db/0019 is recognised when sent again, and so is a second Start")
    func earlierKeylessErrorAndVariant() async throws {
        let (ingestor, store, _) = try await open()
        defer { store.close() }
        // As the ledger stored them before: in the clear, with the plain digest.
        for name in ["error", "start"] {
            let validated = try #require(try? ingestor.validator.validate(try example(name)).get())
            var decided = try NotificationDecision.decide(
                validated, rawBody: String(decoding: try example(name), as: UTF8.self), lifecycle: SessionLifecycle(), context: context()
            )
            if name == "start" {
                // Stored as a second Start (a variant) of a session whose first Start differs.
                decided = try NotificationDecision.decide(
                    validated, rawBody: String(decoding: try example(name), as: UTF8.self), lifecycle: SessionLifecycle(), context: context(), variant: true
                )
                let other = String(decoding: try example("start"), as: UTF8.self).replacingOccurrences(of: "AC3", with: "AC1")
                let firstStart = try #require(try? ingestor.validator.validate(Array(other.utf8)).get())
                let natural = try NotificationDecision.decide(firstStart, rawBody: other, lifecycle: SessionLifecycle(), context: context())
                _ = try await store.append(
                    to: natural.stream, expected: .noStream,
                    events: [NewEvent(id: natural.id, type: natural.type.rawValue, data: natural.data, metadata: natural.metadata)]
                )
            }
            _ = try await store.append(
                to: decided.stream, expected: .any, events: [NewEvent(id: decided.id, type: decided.type.rawValue, data: decided.data, metadata: decided.metadata)]
            )
        }
        for name in ["error", "start"] {
            let outcome = try await ingestor.ingest(try example(name), context: context())
            guard case .alreadyAppended = outcome.disposition else { throw Failure("\(name) again: \(outcome.disposition)") }
        }
        #expect(try await store.readStream(StreamName.session("8d571ee6-bb6f-4b1b-b82a-318c8866b4d0")).count == 1)
        #expect(try await store.readStream(StreamName.session("3fe7378a-238f-4cf3-bca6-de657881f8c2")).count == 2)
    }

    @Test("a process with another pepper than the one the database recorded is refused, naming the setting")
    func pepperMismatch() async throws {
        let (ingestor, store, _) = try await open()
        defer { store.close() }
        _ = try await ingestor.ingest(try example("start"), context: context())  // records the database pepper's check
        let other = Ingestor(store: store, configuration: .init(identificationPepper: IdentificationPepper(bytes: Array(repeating: 7, count: 32))))
        await #expect {
            try await other.ingest(try example("progress"), context: context())
        } throws: { error in
            "\(error)".contains("LEDGER_IDENTIFICATION_PEPPER is not the pepper")
        }
        await #expect(throws: (any Error).self) { try await other.erase(.uid, value: Self.uid, requestedBy: "test") }
    }

    @Test("a refused body that was not UTF-8 is searched as bytes by an erasure")
    func base64Refusal() async throws {
        let (ingestor, store, _) = try await open()
        defer { store.close() }
        let body = Array(#"{"Type":"Error","Identification":{"RFIDMifareFamilyIdentification":{"UID":"0A0B0C0D"}}}"#.utf8) + [0xFF, 0xFE]
        let refused = try await ingestor.ingest(body, context: context())
        guard case .rejected = refused.disposition else { throw Failure("\(refused.disposition)") }
        #expect(try await ingestor.erase(.uid, value: "0a0b0c0d", requestedBy: "test").keysDeleted == 1)
    }

    @Test("an erasure request names a valid identification")
    func validation() {
        #expect(IdentificationErasure.validate("", kind: .uid) != nil)
        #expect(IdentificationErasure.validate("04A2-B3", kind: .uid) != nil)
        #expect(IdentificationErasure.validate(String(repeating: "A", count: 101), kind: .evcoID) != nil)
        #expect(IdentificationErasure.validate("DE-8EO-CAet5e4XY-3", kind: .evcoID) == nil)
        #expect(IdentificationErasure.validate("044a2daa856280", kind: .uid) == nil)
        #expect(IdentificationErasure.validate("DÉ-8EO", kind: .evcoID) != nil)
        #expect(IdentificationErasure.validate(requestedBy: "ticket DPO-17", erasing: "044A2DAA856280", kind: .uid) == nil)
        #expect(IdentificationErasure.validate(requestedBy: "card 044a2daa856280 lost", erasing: "044A2DAA856280", kind: .uid) != nil)
        #expect(IdentificationErasure.validate(requestedBy: "for DE*8EO*CAET5E4XY*3", erasing: "DE-8EO-CAet5e4XY-3", kind: .evcoID) != nil)
        #expect(IdentificationErasure.validate(requestedBy: "", erasing: "044A2DAA856280", kind: .uid) != nil)
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
