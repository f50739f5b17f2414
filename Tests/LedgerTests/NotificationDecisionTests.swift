import Foundation
import JSON
import Ledger
import OICP
import Testing

/// Decides the example of `type` on a fresh stream unless told otherwise.
private func decide(
    _ type: NotificationType, lifecycle: SessionLifecycle = SessionLifecycle(), context: IngestContext = context()
) throws -> DecidedEvent {
    try NotificationDecision.decide(try notification(type), rawBody: Body.of(type), lifecycle: lifecycle, context: context)
}

/// The event's `data`, parsed.
private func data(of event: DecidedEvent) throws -> JSONObject {
    try parseObject(event.data)
}

/// The event's `metadata`, parsed.
private func metadata(of event: DecidedEvent) throws -> JSONObject {
    try parseObject(event.metadata)
}

private func json(_ anomalies: [Anomaly]) -> JSONValue {
    .array(anomalies.map { .object(JSONObject([("code", .string($0.code)), ("message", .string($0.message))])) })
}

@Suite("NotificationDecision.decide: type, stream, id")
struct DecideEnvelopeTests {
    @Test(
        "each notification type is recorded as its event type",
        arguments: [
            (NotificationType.start, LedgerEventType.chargingStarted),
            (.progress, .chargingProgressed),
            (.end, .chargingEnded),
            (.error, .chargingErrorReported),
        ])
    func eventType(type: NotificationType, expected: LedgerEventType) throws {
        let event = try decide(type)

        #expect(event.type == expected)
    }

    @Test(
        "the stream is session-<SessionID>",
        arguments: [
            (NotificationType.start, "session-3fe7378a-238f-4cf3-bca6-de657881f8c2"),
            (.progress, "session-3fe7378a-238f-4cf3-bca6-de657881f8c2"),
            (.end, "session-3fe7378a-238f-4cf3-bca6-de657881f8c2"),
            (.error, "session-8d571ee6-bb6f-4b1b-b82a-318c8866b4d0"),
        ])
    func stream(type: NotificationType, expected: String) throws {
        let event = try decide(type)

        #expect(event.stream == expected)
    }

    @Test("the id is the notification's EventIdentity id")
    func idIsNaturalIdentity() throws {
        let event = try decide(.start)

        let expected = EventIdentity.eventID(
            for: try notification(.start).notification, idempotencyKey: nil, client: "cpo-token-1")
        #expect(event.id == expected)
    }

    @Test("with an idempotency key the id is the key's id for the client")
    func idFromIdempotencyKey() throws {
        let event = try decide(.error, context: context(client: "client-a", idempotencyKey: "key-1"))

        // Python: uuid.uuid5(namespace, "idempotency-key\x1fclient-a\x1fkey-1")
        #expect(event.id == UUID(uuidString: "1476C676-9537-5704-A0FB-A6D08C95B6CB"))
    }
}

@Suite("NotificationDecision.decide: data")
struct DecideDataTests {
    @Test("data is a JSON object", arguments: NotificationType.allCases)
    func dataIsJSON(type: NotificationType) throws {
        let event = try decide(type)

        #expect(try parseJSON(event.data).objectValue != nil)
    }

    @Test("data names the session, EVSE, operator and notification type of a Start")
    func identifyingFieldsStart() throws {
        let data = try data(of: decide(.start))

        #expect(data["session_id"] == .string("3fe7378a-238f-4cf3-bca6-de657881f8c2"))
        #expect(data["evse_id"] == .string("DE*A36*E0001*1"))
        #expect(data["operator_id"] == .string("DE*A36"))
        #expect(data["notification_type"] == .string("Start"))
    }

    @Test("data names the session, EVSE, operator and notification type of an Error")
    func identifyingFieldsError() throws {
        let data = try data(of: decide(.error))

        #expect(data["session_id"] == .string("8d571ee6-bb6f-4b1b-b82a-318c8866b4d0"))
        #expect(data["evse_id"] == .string("DE*A36*E0002*1"))
        #expect(data["operator_id"] == .string("DE*A36"))
        #expect(data["notification_type"] == .string("Error"))
    }

    @Test(
        "occurred_at is the OICP timestamp text the type carries, null for an Error",
        arguments: [
            (NotificationType.start, JSONValue.string("2024-05-14T09:32:10+02:00")),  // ChargingStart
            (.progress, .string("2024-05-14T09:47:10+02:00")),  // EventOccurred
            (.end, .string("2024-05-14T11:05:42+02:00")),  // ChargingEnd
            (.error, .null),
        ])
    func occurredAt(type: NotificationType, expected: JSONValue) throws {
        let data = try data(of: decide(type))

        #expect(data["occurred_at"] == expected)
    }

    @Test("occurred_at keeps the timestamp's original text, offset and fraction included")
    func occurredAtVerbatim() throws {
        let body = Body.setting("ChargingStart", to: "2024-05-14t09:32:10.5000+02:00", in: Body.start)
        let event = try NotificationDecision.decide(
            try validated(body), rawBody: body, lifecycle: SessionLifecycle(), context: context())

        #expect(try data(of: event)["occurred_at"] == .string("2024-05-14t09:32:10.5000+02:00"))
    }

    @Test("received_at is the context's time as RFC 3339 UTC with milliseconds")
    func receivedAt() throws {
        let data = try data(of: decide(.error))

        #expect(data["received_at"] == .string("2026-11-27T10:00:00.250Z"))
    }

    @Test("an Error's data has its error_type")
    func errorType() throws {
        let data = try data(of: decide(.error))

        #expect(data["error_type"] == .string("CriticalError"))
    }

    @Test("data has no error_type for other notification types", arguments: [NotificationType.start, .progress, .end])
    func noErrorType(type: NotificationType) throws {
        let data = try data(of: decide(type))

        #expect(data.index(forKey: "error_type") == nil)
    }

    @Test("a notification without anomalies has an empty anomalies array")
    func noAnomalies() throws {
        let event = try decide(.start)

        #expect(try data(of: event)["anomalies"] == .array([]))
        #expect(event.anomalies == [])
    }

    @Test("anomalies are the validator's followed by the lifecycle's, in data and on the event")
    func anomaliesCombined() throws {
        let body = Body.editing(Body.progress, [("\"ChargingDuration\": 900000", "\"ChargingDuration\": 48000")])
        let validated = try validated(body)
        try #require(validated.anomalies.map(\.code) == ["charging_duration_mismatch"])

        let event = try NotificationDecision.decide(
            validated, rawBody: body, lifecycle: SessionLifecycle(), context: context())

        let expected =
            validated.anomalies + [
                Anomaly(code: "progress_before_start", message: "Progress received before any Start for this session")
            ]
        #expect(event.anomalies == expected)
        #expect(try data(of: event)["anomalies"] == json(expected))
    }

    @Test("lifecycle anomalies follow the stream's state")
    func lifecycleAnomalies() throws {
        let event = try decide(.error, lifecycle: lifecycle(after: [.start, .end]))

        #expect(event.anomalies.map(\.code) == ["notification_after_end"])
        #expect(
            try data(of: event)["anomalies"]
                == json([Anomaly(code: "notification_after_end", message: "Error received after the session's End")]))
    }

    @Test("notification is the body as received", arguments: NotificationType.allCases)
    func notificationIsBody(type: NotificationType) throws {
        let data = try data(of: decide(type))

        #expect(data["notification"] == (try parseJSON(Body.of(type))))
        #expect(data["notification"] == (try notification(type)).body)
    }

    @Test("notification is embedded verbatim, escapes and whitespace not re-encoded")
    func notificationVerbatim() throws {
        let body = Body.editing(Body.error, [("Ground fault detected", #"Fehler \u00e4: Ground fault detected"#)])

        let event = try NotificationDecision.decide(
            try validated(body), rawBody: body, lifecycle: SessionLifecycle(), context: context())

        #expect(event.data.hasSuffix(#","notification":"# + body + "}"))
        let notification = try #require(try data(of: event)["notification"])
        #expect(notification["ErrorAdditionalInfo"]?.stringValue?.hasPrefix("Fehler ä: Ground") == true)
    }
}

@Suite("NotificationDecision.decide: metadata")
struct DecideMetadataTests {
    @Test("metadata has client, source, schema_version 1 and received_at")
    func basicMetadata() throws {
        let event = try decide(.start, context: context(client: "import:sessions.jsonl", source: "import"))

        let metadata = try metadata(of: event)
        #expect(metadata["client"] == .string("import:sessions.jsonl"))
        #expect(metadata["source"] == .string("import"))
        #expect(metadata["schema_version"] == .number("1"))
        #expect(metadata["received_at"] == .string("2026-11-27T10:00:00.250Z"))
    }

    @Test("metadata has no idempotency_key or request_id when none were given")
    func noOptionalMetadata() throws {
        let metadata = try metadata(of: decide(.start))

        #expect(metadata.index(forKey: "idempotency_key") == nil)
        #expect(metadata.index(forKey: "request_id") == nil)
    }

    @Test("metadata has idempotency_key and request_id when given")
    func optionalMetadata() throws {
        let event = try decide(.error, context: context(idempotencyKey: "key-1", requestID: "req-42"))

        let metadata = try metadata(of: event)
        #expect(metadata["idempotency_key"] == .string("key-1"))
        #expect(metadata["request_id"] == .string("req-42"))
    }

    @Test("metadata escapes client text safely")
    func metadataEscapes() throws {
        let event = try decide(.start, context: context(client: "quote\" back\\slash\nnewline"))

        #expect(try metadata(of: event)["client"] == .string("quote\" back\\slash\nnewline"))
    }
}
