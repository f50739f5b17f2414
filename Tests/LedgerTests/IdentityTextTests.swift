import Foundation
import JSON
import Ledger
import OICP
import Testing

@Suite("Ids and digests written by hand: the same text Foundation wrote, so stored ids never change")
struct IdentityTextTests {
    static let ids: [UUID] =
        [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
         UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)),
         UUID(uuidString: "878DF99B-B63D-57EA-B41C-A6DFC7B60416")!]
        + (0..<64).map { _ in UUID() }

    @Test("EventIdentity.text is uuidString, upper- or lower-cased", arguments: ids)
    func text(id: UUID) {
        #expect(EventIdentity.text(of: id, uppercase: true) == id.uuidString)
        #expect(EventIdentity.text(of: id, uppercase: false) == id.uuidString.lowercased())
    }

    @Test("a variant id is the version-5 id of the upper-case natural id and the digest (pinned)")
    func variantPinned() {
        let id = UUID(uuidString: "878DF99B-B63D-57EA-B41C-A6DFC7B60416")!
        // Python: uuid.uuid5(NS, "variant\x1f" + str(id).upper() + "\x1f" + digest)
        #expect(
            NotificationDecision.variantID(of: id, digest: "0c7b1f9e-1111-5222-8333-444455556666")
                == UUID(uuidString: "11AD6461-07F4-5F2E-B3BC-EF539360A13B"))
    }

    @Test("the content digest is the lower-case version-5 id of the compact body", arguments: NotificationType.allCases)
    func contentDigest(type: NotificationType) throws {
        let validated = try notification(type)
        let digest = NotificationDecision.contentDigests(validated, sealing: nil).current
        #expect(digest == EventIdentity.nameBased("content\u{1F}" + validated.body.serialized()).uuidString.lowercased())
    }

    @Test("an identity computed before deciding gives the event deciding alone gives", arguments: NotificationType.allCases)
    func identityHandedIn(type: NotificationType) throws {
        let validated = try notification(type)
        let lineContext = context(idempotencyKey: "line-7")  // an Error's id is random without one
        let identity = NotificationIdentity(validated, context: lineContext, sealing: nil)
        for variant in [false, true] {
            let alone = try NotificationDecision.decide(
                validated, rawBody: Body.of(type), lifecycle: SessionLifecycle(), context: lineContext, variant: variant)
            let given = try NotificationDecision.decide(
                validated, rawBody: Body.of(type), lifecycle: SessionLifecycle(), context: lineContext, variant: variant, identity: identity)
            #expect(given.id == alone.id)
            #expect(given.id == (variant ? identity.variantID : identity.id))
            #expect(given.data == alone.data)
            #expect(given.metadata == alone.metadata)
            #expect(given.contentDigest == alone.contentDigest)
        }
    }

    @Test("serializedObject writes what an object of the same members serializes to")
    func serializedObject() {
        let members: [(key: String, value: JSONValue)] = [
            ("a", .string("x\"y\\z\n\u{1}")), ("b", .number("1.50")), ("c", .null), ("d", .bool(true)),
            ("e", .array([.string("ü"), .object(JSONObject([("k", .string("v"))]))])), ("ключ", .string("значение")),
        ]
        #expect(JSONValue.serializedObject(members) == JSONValue.object(JSONObject(members)).serialized())
        #expect(JSONValue.serializedObject([]) == "{}")
    }
}
