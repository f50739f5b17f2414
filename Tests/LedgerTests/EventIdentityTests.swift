import Foundation
import Ledger
import OICP
import Testing

@Suite("EventIdentity: Start and End ids")
struct EventIdentityNaturalIDTests {
    @Test("the same Start body twice gets the same id")
    func startStable() throws {
        let first = try notification(.start).notification
        let second = try notification(.start).notification

        let firstID = EventIdentity.eventID(for: first, idempotencyKey: nil, client: "cpo-token-1")
        let secondID = EventIdentity.eventID(for: second, idempotencyKey: nil, client: "cpo-token-1")

        #expect(firstID == secondID)
    }

    @Test("a Start id is the version-5 id of its SessionID (pinned: stored ids must never change)")
    func startPinned() throws {
        let start = try notification(.start).notification

        let id = EventIdentity.eventID(for: start, idempotencyKey: nil, client: "cpo-token-1")

        // Python: uuid.uuid5(UUID("6f1c2a4e-8d0b-4f57-9a43-3c1e5b7d9e21"), "start\x1f" + SessionID)
        #expect(id == UUID(uuidString: "878DF99B-B63D-57EA-B41C-A6DFC7B60416"))
    }

    @Test("Starts of different sessions get different ids")
    func startPerSession() throws {
        let first = try notification(.start).notification
        let other = try validated(Body.editing(Body.start, [(Body.sessionID, Body.otherSessionID)])).notification

        let firstID = EventIdentity.eventID(for: first, idempotencyKey: nil, client: "cpo-token-1")
        let otherID = EventIdentity.eventID(for: other, idempotencyKey: nil, client: "cpo-token-1")

        #expect(firstID != otherID)
    }

    @Test("a Start id depends only on the SessionID: a changed ChargingStart or client keeps it")
    func startIgnoresOtherFields() throws {
        let first = try notification(.start).notification
        let changed = try validated(
            Body.setting("ChargingStart", to: "2024-05-14T09:40:00+02:00", in: Body.start)
        ).notification

        let firstID = EventIdentity.eventID(for: first, idempotencyKey: nil, client: "cpo-token-1")
        let changedID = EventIdentity.eventID(for: changed, idempotencyKey: nil, client: "cpo-token-2")

        #expect(firstID == changedID)
    }

    @Test("the same End body twice gets the same id")
    func endStable() throws {
        let first = try notification(.end).notification
        let second = try notification(.end).notification

        let firstID = EventIdentity.eventID(for: first, idempotencyKey: nil, client: "cpo-token-1")
        let secondID = EventIdentity.eventID(for: second, idempotencyKey: nil, client: "cpo-token-1")

        #expect(firstID == secondID)
        // Python: uuid.uuid5(UUID("6f1c2a4e-8d0b-4f57-9a43-3c1e5b7d9e21"), "end\x1f" + SessionID)
        #expect(firstID == UUID(uuidString: "5D443332-18A8-529E-A755-976BFBD12270"))
    }

    @Test("Ends of different sessions get different ids")
    func endPerSession() throws {
        let first = try notification(.end).notification
        let other = try validated(Body.editing(Body.end, [(Body.sessionID, Body.otherSessionID)])).notification

        let firstID = EventIdentity.eventID(for: first, idempotencyKey: nil, client: "cpo-token-1")
        let otherID = EventIdentity.eventID(for: other, idempotencyKey: nil, client: "cpo-token-1")

        #expect(firstID != otherID)
    }

    @Test("the Start and the End of one session get different ids")
    func startAndEndDiffer() throws {
        let start = try notification(.start).notification
        let end = try notification(.end).notification

        let startID = EventIdentity.eventID(for: start, idempotencyKey: nil, client: "cpo-token-1")
        let endID = EventIdentity.eventID(for: end, idempotencyKey: nil, client: "cpo-token-1")

        #expect(startID != endID)
    }
}

@Suite("EventIdentity: Progress ids")
struct EventIdentityProgressTests {
    static func progress(eventOccurred: String) throws -> ChargingNotification {
        try validated(Body.setting("EventOccurred", to: eventOccurred, in: Body.progress)).notification
    }

    @Test("the same Progress body twice gets the same id")
    func progressStable() throws {
        let first = try notification(.progress).notification
        let second = try notification(.progress).notification

        let firstID = EventIdentity.eventID(for: first, idempotencyKey: nil, client: "cpo-token-1")
        let secondID = EventIdentity.eventID(for: second, idempotencyKey: nil, client: "cpo-token-1")

        #expect(firstID == secondID)
        // Python: uuid.uuid5(namespace, "progress\x1f" + SessionID + "\x1f" + "1715672830000")
        #expect(firstID == UUID(uuidString: "30D0F610-9774-534D-8513-F38BD97343C2"))
    }

    @Test("one EventOccurred instant written with two UTC offsets gets one id")
    func sameInstantDifferentOffset() throws {
        let local = try Self.progress(eventOccurred: "2024-05-14T09:47:10+02:00")
        let utc = try Self.progress(eventOccurred: "2024-05-14T07:47:10Z")
        #expect(local.eventOccurred?.text != utc.eventOccurred?.text)

        let localID = EventIdentity.eventID(for: local, idempotencyKey: nil, client: "cpo-token-1")
        let utcID = EventIdentity.eventID(for: utc, idempotencyKey: nil, client: "cpo-token-1")

        #expect(localID == utcID)
    }

    @Test("different EventOccurred instants get different ids")
    func differentInstants() throws {
        let first = try Self.progress(eventOccurred: "2024-05-14T09:47:10+02:00")
        let later = try Self.progress(eventOccurred: "2024-05-14T09:47:11+02:00")

        let firstID = EventIdentity.eventID(for: first, idempotencyKey: nil, client: "cpo-token-1")
        let laterID = EventIdentity.eventID(for: later, idempotencyKey: nil, client: "cpo-token-1")

        #expect(firstID != laterID)
    }

    @Test("one EventOccurred wall-clock text with different offsets is two instants and two ids")
    func sameWallClockDifferentOffset() throws {
        let berlin = try Self.progress(eventOccurred: "2024-05-14T09:47:10+02:00")
        let london = try Self.progress(eventOccurred: "2024-05-14T09:47:10+01:00")

        let berlinID = EventIdentity.eventID(for: berlin, idempotencyKey: nil, client: "cpo-token-1")
        let londonID = EventIdentity.eventID(for: london, idempotencyKey: nil, client: "cpo-token-1")

        #expect(berlinID != londonID)
    }

    @Test("Progress at one instant in different sessions gets different ids")
    func progressPerSession() throws {
        let first = try notification(.progress).notification
        let other = try validated(Body.editing(Body.progress, [(Body.sessionID, Body.otherSessionID)])).notification

        let firstID = EventIdentity.eventID(for: first, idempotencyKey: nil, client: "cpo-token-1")
        let otherID = EventIdentity.eventID(for: other, idempotencyKey: nil, client: "cpo-token-1")

        #expect(firstID != otherID)
    }
}

@Suite("EventIdentity: Error ids and idempotency keys")
struct EventIdentityKeyTests {
    @Test("an Error without an idempotency key gets a new id each time")
    func errorWithoutKey() throws {
        let error = try notification(.error).notification

        let ids = (0..<3).map { _ in EventIdentity.eventID(for: error, idempotencyKey: nil, client: "cpo-token-1") }

        #expect(Set(ids).count == 3)
    }

    @Test("an Error with an idempotency key gets the same id each time")
    func errorWithKey() throws {
        let error = try notification(.error).notification

        let first = EventIdentity.eventID(for: error, idempotencyKey: "key-1", client: "client-a")
        let second = EventIdentity.eventID(for: error, idempotencyKey: "key-1", client: "client-a")

        #expect(first == second)
        // Python: uuid.uuid5(namespace, "idempotency-key\x1fclient-a\x1fkey-1")
        #expect(first == UUID(uuidString: "1476C676-9537-5704-A0FB-A6D08C95B6CB"))
    }

    @Test("one idempotency key from two clients gives two ids")
    func keyScopedByClient() throws {
        let error = try notification(.error).notification

        let fromA = EventIdentity.eventID(for: error, idempotencyKey: "key-1", client: "client-a")
        let fromB = EventIdentity.eventID(for: error, idempotencyKey: "key-1", client: "client-b")

        #expect(fromA != fromB)
    }

    @Test("two idempotency keys from one client give two ids")
    func differentKeys() throws {
        let error = try notification(.error).notification

        let first = EventIdentity.eventID(for: error, idempotencyKey: "key-1", client: "client-a")
        let second = EventIdentity.eventID(for: error, idempotencyKey: "key-2", client: "client-a")

        #expect(first != second)
    }

    @Test("an idempotency key takes precedence over a Start's natural identity")
    func keyOverridesNaturalIdentity() throws {
        let start = try notification(.start).notification
        let other = try validated(Body.editing(Body.start, [(Body.sessionID, Body.otherSessionID)])).notification

        let keyed = EventIdentity.eventID(for: start, idempotencyKey: "key-1", client: "client-a")
        let otherKeyed = EventIdentity.eventID(for: other, idempotencyKey: "key-1", client: "client-a")
        let natural = EventIdentity.eventID(for: start, idempotencyKey: nil, client: "client-a")

        #expect(keyed == otherKeyed)
        #expect(keyed != natural)
    }
}

@Suite("EventIdentity.nameBased: RFC 9562 version-5 UUIDs")
struct NameBasedTests {
    static let names = ["", "start\u{1F}x", "www.example.com", "Grüße, 🔌", String(repeating: "a", count: 1000)]

    @Test("the same name gives the same UUID")
    func deterministic() {
        #expect(EventIdentity.nameBased("www.example.com") == EventIdentity.nameBased("www.example.com"))
    }

    @Test("different names give different UUIDs")
    func distinct() {
        let ids = Self.names.map(EventIdentity.nameBased)

        #expect(Set(ids).count == Self.names.count)
    }

    @Test("the version nibble is 5", arguments: names)
    func version(name: String) {
        #expect(EventIdentity.nameBased(name).versionNibble == 5)
    }

    @Test("the variant bits are 10", arguments: names)
    func variant(name: String) {
        #expect(EventIdentity.nameBased(name).variantBits == 0b10)
    }

    @Test("the ledger's namespace is used, not the DNS one")
    func ownNamespace() {
        // RFC 9562 vector: v5(DNS namespace, "www.example.com") = 2ed6657d-e927-568b-95e1-2665a8aea6a2.
        #expect(EventIdentity.nameBased("www.example.com") != UUID(uuidString: "2ed6657d-e927-568b-95e1-2665a8aea6a2"))
        // Python: uuid.uuid5(UUID("6f1c2a4e-8d0b-4f57-9a43-3c1e5b7d9e21"), "")
        #expect(EventIdentity.nameBased("") == UUID(uuidString: "A0D47196-BE95-5683-BDB7-1F93A65C85B9"))
    }
}
