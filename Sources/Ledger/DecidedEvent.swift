public import Foundation
public import JSON
public import OICP

/// An event the ledger decided to append, ready for the event store.
public struct DecidedEvent: Sendable {
    public let id: UUID
    public let type: LedgerEventType
    public let stream: String
    /// The event's `data`, JSON text.
    public let data: String
    /// The event's `metadata`, JSON text.
    public let metadata: String
    /// Field and lifecycle anomalies recorded on the event.
    public let anomalies: [Anomaly]
    /// A digest of the notification's content (also in `metadata.content_digest`): an id that is
    /// stored already is a replay only when the stored event has the same digest.
    public let contentDigest: String
    /// The digest the ledger stored before db/0019 for a notification with an identification
    /// (over the identification in the clear): an event stored then, with this digest, is a
    /// replay too. Never stored.
    public var earlierDigest: String? = nil

    /// Whether a stored event with `storedDigest` records this content.
    public func sameContent(asDigest storedDigest: String) -> Bool {
        storedDigest == contentDigest || storedDigest == earlierDigest
    }
}

/// A valid notification's event id and content digests (see `NotificationDecision.decide`),
/// computed once: an import looks every line's up in the store before it decides.
public struct NotificationIdentity: Sendable {
    /// The event id its natural identity (or idempotency key) gives.
    public let id: UUID
    public let contentDigest: String
    /// See `DecidedEvent.earlierDigest`.
    public let earlierDigest: String?

    public init(_ validated: ValidatedNotification, context: IngestContext, sealing: NotificationSealing?) {
        id = EventIdentity.eventID(for: validated.notification, idempotencyKey: context.idempotencyKey, client: context.client)
        (contentDigest, earlierDigest) = NotificationDecision.contentDigests(validated, sealing: sealing)
    }

    /// The id it is recorded under when `id` holds other content already (see `decide`'s `variant`).
    public var variantID: UUID { NotificationDecision.variantID(of: id, digest: contentDigest) }
    /// The variant id its digest gave before db/0019, for a notification with an identification.
    public var earlierVariantID: UUID? { earlierDigest.map { NotificationDecision.variantID(of: id, digest: $0) } }
}

/// How a notification with an identification is kept (db/0019): its subjects, and the key of its
/// identification that seals its body as received.
public struct NotificationSealing: Sendable {
    public let subjects: IdentificationSubjects
    public let key: IdentificationKey
    /// The pepper the subjects were made with: the content digest's keyed hashes use it too.
    public let pepper: IdentificationPepper

    public init(subjects: IdentificationSubjects, key: IdentificationKey, pepper: IdentificationPepper) {
        self.subjects = subjects
        self.key = key
        self.pepper = pepper
    }
}

/// `metadata` keys the event store's lookups name (replays, keyless Error retries).
public enum EventMetadataKey {
    public static let contentDigest = "content_digest"
    public static let idempotencyKey = "idempotency_key"
    public static let receivedAt = "received_at"
}

/// Turns notifications into events. Pure: no I/O, no clock (the context carries the time).
public enum NotificationDecision {
    /// The version of the `data` / `metadata` layout written here.
    public static let schemaVersion = 1

    /// The event that records a valid notification, given what the session's stream holds.
    ///
    /// `data` holds the notification as received (`notification`, for forwarding), the fields
    /// projections index (`session_id`, `evse_id`, `operator_id`, `error_type`), the OICP
    /// timestamp the notification carries (`occurred_at`, null for an Error), `received_at`,
    /// and every anomaly: the notification's own cross-field ones and the lifecycle ones.
    ///
    /// A notification with an `Identification` is kept without it (db/0019): `notification` leaves
    /// it out, `identification` names the key that sealed it, and `body_sealed` holds the body as
    /// received, encrypted under that key, in place of `body`. Its content digest covers the
    /// identification's subjects (keyed hashes), not its value.
    ///
    /// - Parameters:
    ///   - rawBody: the request body as received; it was validated as UTF-8 JSON.
    ///   - sealing: the identification's subjects and key. The ingestor always passes one for a
    ///     notification with an identification; nil keeps it in the clear, as events stored before
    ///     db/0019 have it.
    ///   - variant: set when the notification's natural id is stored already with other content:
    ///     then this is a second, different notification (a corrected Start, say), recorded under
    ///     an id derived from the natural one and the content, so its own replays are found too.
    ///   - identity: the notification's id and digests, when the caller computed them already
    ///     (an import looks every line's up before it decides); computed here otherwise.
    public static func decide(
        _ validated: ValidatedNotification, rawBody: String, lifecycle: SessionLifecycle, context: IngestContext,
        variant: Bool = false, sealing: NotificationSealing? = nil, identity: NotificationIdentity? = nil
    ) throws -> DecidedEvent {
        let notification = validated.notification
        let anomalies = validated.anomalies + lifecycle.anomalies(receiving: notification.type)
        let occurred: Timestamp? =
            switch notification.type {
            case .start: notification.chargingStart
            case .progress: notification.eventOccurred
            case .end: notification.chargingEnd
            case .error: nil
            }
        var fields: [(key: String, value: JSONValue)] = [
            (RecordedNotification.Key.sessionID, .string(notification.sessionID)),
            (RecordedNotification.Key.evseID, .string(notification.evseID)),
            (RecordedNotification.Key.operatorID, .string(notification.operatorID)),
            ("notification_type", .string(notification.type.rawValue)),
            ("occurred_at", occurred.map { .string($0.text) } ?? .null),
            ("received_at", .string(rfc3339(context.receivedAt))),
        ]
        if let errorType = notification.errorType { fields.append((RecordedNotification.Key.errorType, .string(errorType.rawValue))) }
        fields.append(("anomalies", .array(anomalies.map(\.json))))
        // `notification` is the body as a JSON value (PostgreSQL's jsonb normalises its key order,
        // whitespace and number spelling); `body` keeps the bytes as received, so the forwarder
        // sends Hubject the original notification, byte for byte.
        let data: String
        let digest: String
        let earlierDigest: String?
        if let sealing, case .object(let object) = validated.body {
            let key = sealing.key.id.uuidString.lowercased()
            fields.append((
                RecordedNotification.Key.identification,
                .object(JSONObject([("key", .string(key)), ("option", .string(notification.identification?.optionName ?? ""))]))
            ))
            fields.append((
                RecordedNotification.Key.sealedBody,
                .object(JSONObject([("key", .string(key)), ("box", .string(try SealedBox.seal(Array(rawBody.utf8), with: sealing.key)))]))
            ))
            var withoutIdentification = object
            withoutIdentification[RecordedNotification.identificationMember] = nil
            fields.append(("notification", .object(withoutIdentification)))
            data = JSONValue.serializedObject(fields)
        } else {
            fields.append((RecordedNotification.Key.body, .string(rawBody)))
            data = embedding(rawBody, as: "notification", in: JSONValue.serializedObject(fields))
        }
        let identity = identity ?? NotificationIdentity(validated, context: context, sealing: sealing)
        (digest, earlierDigest) = (identity.contentDigest, identity.earlierDigest)
        let id = variant ? identity.variantID : identity.id
        var decided = DecidedEvent(
            id: id,
            type: LedgerEventType(recording: notification.type),
            stream: StreamName.session(notification.sessionID),
            data: data,
            metadata: metadata(context, contentDigest: digest),
            anomalies: anomalies,
            contentDigest: digest
        )
        decided.earlierDigest = earlierDigest
        return decided
    }

    /// The quarantine event for a refused notification: its bytes (at most `rawCap` of them;
    /// as text when they are UTF-8, else base64), every reason, and who sent it.
    ///
    /// With `sealing`, `raw_sealed` (`key`, `box`: sealed under that key, one of its own) holds
    /// `{"raw": …, "problems": […]}` instead of `raw` and `problems`, and `problem_count` says how
    /// many reasons there were: a refused body may carry an identification, and the reasons may
    /// quote it (`EvcoID "…" does not match …`); an erasure finds them by opening the box (db/0019).
    public static func rejection(
        rawBody: some Collection<UInt8>, problems: [ValidationProblem], context: IngestContext, rawCap: Int = 8192,
        sealing: IdentificationKey? = nil
    ) throws -> DecidedEvent {
        var kept = Array(rawBody.prefix(rawCap))
        // Do not cut a UTF-8 character in two: that would turn a text body into base64.
        if kept.count < rawBody.count, String(validating: kept, as: UTF8.self) == nil {
            var end = kept.count
            while end > 0, end > kept.count - 4, kept[end - 1] & 0xC0 == 0x80 { end -= 1 }
            if end > 0, kept[end - 1] >= 0xC0 { end -= 1 }
            if String(validating: kept[..<end], as: UTF8.self) != nil { kept.removeSubrange(end...) }
        }
        var fields: [(key: String, value: JSONValue)] = [("received_at", .string(rfc3339(context.receivedAt)))]
        let raw: String
        let encoding: String
        if let text = String(validating: kept, as: UTF8.self), !text.contains("\u{0}") {
            (raw, encoding) = (text, "utf-8")
        } else {
            (raw, encoding) = (Data(kept).base64EncodedString(), "base64")
        }
        let reasons = JSONValue.array(problems.map { .object(JSONObject([("pointer", .string($0.pointer)), ("message", .string($0.message))])) })
        if let sealing {
            let sealed = JSONValue.object(JSONObject([("raw", .string(raw)), ("problems", reasons)])).serialized()
            fields.append((
                Self.sealedRaw,
                .object(JSONObject([("key", .string(sealing.id.uuidString.lowercased())), ("box", .string(try SealedBox.seal(Array(sealed.utf8), with: sealing)))]))
            ))
        } else {
            fields.append(("raw", .string(raw)))
        }
        fields.append(("raw_encoding", .string(encoding)))
        fields.append(("raw_bytes", .number(String(rawBody.count))))
        fields.append(("raw_truncated", .bool(rawBody.count > rawCap)))
        if sealing == nil {
            fields.append(("problems", reasons))
        } else {
            fields.append(("problem_count", .number(String(problems.count))))
        }
        return DecidedEvent(
            id: UUID(),
            type: .notificationRejected,
            stream: StreamName.quarantine(day: context.receivedAt),
            data: JSONValue.object(JSONObject(fields)).serialized(),
            metadata: metadata(context),
            anomalies: [],
            contentDigest: ""
        )
    }

    /// The member of a quarantine event that holds its kept bytes sealed.
    public static let sealedRaw = "raw_sealed"

    /// The sealed bytes of a quarantine event's `data`: the key's id and the box (nil for one
    /// stored in the clear, before db/0019).
    public static func sealedRejection(ofData data: String) -> (keyID: UUID, box: String)? {
        guard case .object(let object)? = try? JSONParser.parse(data.utf8, maxDepth: 8, maxBytes: .max),
            let sealed = object[sealedRaw]?.objectValue, let key = sealed["key"]?.stringValue.flatMap(UUID.init(uuidString:)),
            let box = sealed["box"]?.stringValue
        else { return nil }
        return (key, box)
    }

    /// The event that counts refused notifications the quarantine did not store.
    public static func rejectionsDropped(count: Int, windowStart: Date, windowEnd: Date, context: IngestContext) -> DecidedEvent {
        let fields: [(key: String, value: JSONValue)] = [
            ("dropped", .number(String(count))),
            ("window_start", .string(rfc3339(windowStart))),
            ("window_end", .string(rfc3339(windowEnd))),
        ]
        return DecidedEvent(
            id: UUID(), type: .rejectionsDropped, stream: StreamName.quarantine(day: windowEnd),
            data: JSONValue.object(JSONObject(fields)).serialized(), metadata: metadata(context), anomalies: [], contentDigest: ""
        )
    }

    /// The id of a second, different notification under the natural id `id` (see `decide`).
    public static func variantID(of id: UUID, digest: String) -> UUID {
        // Upper-case, as Foundation's `uuidString` wrote it when the first variants were stored.
        EventIdentity.nameBased("variant\u{1F}" + EventIdentity.text(of: id, uppercase: true) + "\u{1F}" + digest)
    }

    /// A name-based UUID of the notification's compact serialization: equal for the same
    /// notification sent again, whatever whitespace it came with.
    /// The content digest of a notification, and, for one with an identification, the digest
    /// stored for it before db/0019 (see `DecidedEvent.earlierDigest`). With an identification,
    /// the digest covers the identification's shape with every text in it replaced by a keyed
    /// hash (`IdentificationPepper.keyedLeaf`): any change to it is other content, and a stored
    /// digest confirms no guessed value without the pepper.
    public static func contentDigests(_ validated: ValidatedNotification, sealing: NotificationSealing?) -> (current: String, earlier: String?) {
        let member = RecordedNotification.identificationMember
        guard let sealing, case .object(var keyed) = validated.body, let identification = keyed[member] else {
            return (contentDigest(validated.body), nil)
        }
        func hashed(_ value: JSONValue, _ pointer: String) -> JSONValue {
            switch value {
            case .string(let text): .string(sealing.pepper.keyedLeaf(text, at: pointer))
            case .object(let object): .object(JSONObject(object.map { ($0.key, hashed($0.value, pointer + "/" + $0.key)) }))
            case .array(let items): .array(items.enumerated().map { hashed($0.element, pointer + "/\($0.offset)") })
            default: value
            }
        }
        keyed[member] = hashed(identification, "/" + member)
        return (contentDigest(.object(keyed)), contentDigest(validated.body))
    }

    static func contentDigest(_ body: JSONValue) -> String {
        EventIdentity.text(of: EventIdentity.nameBased("content\u{1F}" + body.serialized()), uppercase: false)
    }

    static func metadata(_ context: IngestContext, contentDigest: String? = nil) -> String {
        var fields: [(key: String, value: JSONValue)] = [
            (EventMetadataKey.receivedAt, .string(rfc3339(context.receivedAt))),
            ("client", .string(context.client)),
            ("source", .string(context.source)),
            ("schema_version", .number(String(schemaVersion))),
        ]
        if let key = context.idempotencyKey { fields.append((EventMetadataKey.idempotencyKey, .string(key))) }
        if let id = context.requestID { fields.append(("request_id", .string(id))) }
        if let contentDigest { fields.append((EventMetadataKey.contentDigest, .string(contentDigest))) }
        return JSONValue.serializedObject(fields)
    }

    /// Adds `"key": raw` as the last member of a serialized JSON object, without re-encoding
    /// `raw`, which is already valid JSON.
    static func embedding(_ raw: String, as key: String, in object: String) -> String {
        precondition(object.hasSuffix("}"), "not a JSON object")
        // Counted in UTF-8 and cut at the end (constant time): `count` and `dropLast` walk every
        // character, and on a notification's JSON that was 7% of an import's CPU.
        var result = object
        result.reserveCapacity(object.utf8.count + key.utf8.count + raw.utf8.count + 4)
        result.removeLast()
        result += object.utf8.count > 2 ? ",\"" : "\""
        result += key
        result += "\":"
        result += raw
        result += "}"
        return result
    }
}

extension Anomaly {
    var json: JSONValue {
        .object(JSONObject([("code", .string(code)), ("message", .string(message))]))
    }
}
