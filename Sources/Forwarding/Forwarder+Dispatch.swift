import EventStore
import Foundation
import JSON
import Ledger
import Logging
import OICP
import Postgres

/// Taking due deliveries, sending them, and recording what came of them.
extension Forwarder {
    // MARK: - Dispatch

    /// A delivery about to go: its notification, and what the attempt needs.
    struct Delivery: Sendable {
        var session: String
        var notification: PendingNotification
        var eventID: UUID
        var body: String
        /// When the notification was committed (the event's `recorded_at`).
        var committedAt: Date
        /// Its identification was erased before it went: `body` leaves it out.
        var withoutIdentification = false
    }

    /// Takes the deliveries that may go now, within `maxInFlight` and the rate limit; says when
    /// to look again if something waits.
    func takeDue(_ limiter: inout RateLimiter?) -> (due: [(session: String, notification: PendingNotification)], wake: Date?) {
        let now = configuration.clock.now()
        let maxInFlight = configuration.maxInFlight
        return state.withLock { state in
            if let paused = state.pausedUntil, now < paused { return ([], paused) }
            var due: [(session: String, notification: PendingNotification)] = []
            while state.backlog.inFlightCount < maxInFlight {
                if let later = limiter?.nextToken(now: now) { return (due, later) }
                switch state.backlog.next(now: now) {
                case .send(let session, let notification):
                    _ = limiter?.acquire(now: now)
                    due.append((session, notification))
                case .idle(let until):
                    return (due, until)
                }
            }
            return (due, nil)
        }
    }

    /// Reads the notifications of the deliveries about to go, in one query.
    func prepare(_ due: [(session: String, notification: PendingNotification)]) async throws -> [Delivery] {
        let found = try await store.events(atPositions: due.map(\.notification.position))
        let byPosition = Dictionary(found.map { ($0.globalPosition, $0) }, uniquingKeysWith: { a, _ in a })
        let forwardable = byPosition.mapValues { RecordedNotification.forwardable(ofData: $0.data) }
        let keyIDs = forwardable.values.compactMap { if case .sealed(let key, _, _)? = $0 { key } else { nil } }
        let keys = keyIDs.isEmpty ? [:] : try await store.identificationKeys(ids: keyIDs)
        var deliveries: [Delivery] = []
        for (session, notification) in due {
            guard let event = byPosition[notification.position], let found = forwardable[notification.position] ?? nil else {
                logger.error("a delivery's notification is missing from the store", metadata: ["position": "\(notification.position)"])
                state.withLock { $0.backlog.released(session: session) }
                continue
            }
            let body: String
            var withoutIdentificationSent = false
            switch found {
            case .plain(let text):
                body = text
            case .sealed(let keyID, let box, let withoutIdentification):
                if let key = keys[keyID], let opened = SealedBox.open(box, with: key) {
                    body = String(decoding: opened, as: UTF8.self)
                } else if keys[keyID] != nil {
                    // Its key is there but does not open it: the stored box was altered
                    // (`error-ledger verify` names the event). What is left goes, as for an erasure.
                    logger.error("a notification's sealed body does not open with its key; it goes without its Identification", metadata: ["position": "\(notification.position)"])
                    body = withoutIdentification
                    withoutIdentificationSent = true
                } else {
                    // Its identification was erased before it went: Hubject gets the notification
                    // without it (`Identification` is optional in every ChargingNotification).
                    body = withoutIdentification
                    withoutIdentificationSent = true
                    logger.notice(
                        "a notification's identification was erased before it was forwarded; it goes without it",
                        metadata: ["position": "\(notification.position)", "session_id": "\(session)"]
                    )
                }
            }
            deliveries.append(
                Delivery(
                    session: session, notification: notification, eventID: event.eventID, body: body, committedAt: event.recordedAt,
                    withoutIdentification: withoutIdentificationSent
                )
            )
        }
        return deliveries
    }

    // MARK: - Delivery

    func deliver(_ delivery: Delivery, recorder: OutcomeRecorder) async {
        var result = await transport.send(Array(delivery.body.utf8))
        var outcome = DeliveryOutcome.classify(result)
        if case .delivered = outcome {} else {
            // Only an answer that is not a delivery leaves a reason behind: that one is read for
            // the identification's values (a delivery costs no second parse of the body).
            result = Self.withoutIdentification(result, sent: delivery.body)
            outcome = DeliveryOutcome.classify(result)
        }
        let now = configuration.clock.now()
        if case .response(429, _, let retryAfter, _) = result {
            // Too many requests is about the partner, not this notification: every session waits.
            let until = now.addingTimeInterval(configuration.retry.honoured(retryAfter: retryAfter ?? 1).seconds)
            state.withLock { $0.pausedUntil = max($0.pausedUntil ?? until, until) }
            logger.warning("Hubject answered 429: forwarding pauses", metadata: ["until": "\(rfc3339(until))"])
        }
        var random = SystemRandomNumberGenerator()
        let decided = DeliveryDecision.decide(delivery, result: result, outcome: outcome, now: now, retry: configuration.retry, random: &random)
        do {
            try await recorder.record(decided.record)
        } catch {
            // Not recorded: the forwarder is stopping; the row still says open, so whoever is
            // active next sends it again (the bounded duplicate).
            logger.warning(
                "forwarding outcome not recorded; the notification will go again",
                metadata: LogMetadata.error(error, ["position": "\(delivery.notification.position)"])
            )
            state.withLock { $0.backlog.released(session: delivery.session) }
            wake.ring()
            return
        }
        statistics.withLock { $0.count(outcome, result: result, committedAt: delivery.committedAt, answeredAt: now) }
        if decided.record.row.state == "dead" {
            // It will not go again by itself: an operator has to look (and retry it once fixed).
            logger.warning(
                "a notification became a dead letter",
                metadata: [
                    "session_id": "\(delivery.session)", "position": "\(delivery.notification.position)",
                    "attempts": "\(decided.record.row.attempts)", "status_code": "\(decided.record.row.statusCode ?? "-")",
                    "reason": "\(decided.record.row.reason ?? "-")",
                ]
            )
        }
        state.withLock { state in
            switch decided.next {
            case .completed(let acceptedAt):
                state.backlog.completed(session: delivery.session, position: delivery.notification.position, acceptedAt: acceptedAt)
            case .retry(let attempts, let firstAttemptAt, let notBefore):
                state.backlog.retry(
                    session: delivery.session, position: delivery.notification.position, attempts: attempts, firstAttemptAt: firstAttemptAt, notBefore: notBefore
                )
            }
        }
        wake.ring()
    }

    /// Hubject's answer with the values of the sent notification's identification taken out:
    /// its reasons (`AdditionalInfo`, or an excerpt of a body that is not an acknowledgement) are
    /// kept in delivery events, which an erasure cannot reach (db/0019), and a validation answer
    /// may quote what it refused.
    static func withoutIdentification(_ result: TransportResult, sent body: String) -> TransportResult {
        guard case .response(let status, let answer, let retryAfter, let latency) = result,
            case .object(let notification)? = try? JSONParser.parse(Array(body.utf8), maxDepth: 32, maxBytes: .max),
            let identification = notification[RecordedNotification.identificationMember]
        else { return result }
        var values: [String] = []
        func collect(_ value: JSONValue) {
            switch value {
            case .string(let text) where text.count >= 4: values += [text, text.filter { $0 != "-" && $0 != "*" }]
            case .object(let object): object.forEach { collect($0.value) }
            case .array(let items): items.forEach(collect)
            default: break
            }
        }
        collect(identification)
        let original = String(decoding: answer, as: UTF8.self)
        var text = original
        for value in values.sorted(by: { $0.count > $1.count }) where !value.isEmpty {
            text = text.replacingOccurrences(of: value, with: "…", options: .caseInsensitive)
        }
        guard text != original else { return result }
        return .response(status: status, body: Array(text.utf8), retryAfter: retryAfter, latency: latency)
    }

    /// The records of Progress notifications a newer one replaced.
    func supersededRecords(_ connection: PostgresConnection, _ superseded: [PendingNotification]) async throws -> [DeliveryRecord] {
        let positions = superseded.map { String($0.position) }
        let rows = try await connection.run { session in
            try session.query("SELECT position, session_id, event_id FROM forwarding.deliveries WHERE position = ANY(\(positions)::bigint[])").rows.map {
                (try $0.decode(Int64.self, column: 0), try $0.decode(String.self, column: 1), try $0.decode(UUID.self, column: 2))
            }
        }
        let now = configuration.clock.now()
        let reason = "a newer Progress of the session replaced it inside Hubject's 5-minute window; only the newest is sent"
        return rows.map { position, session, eventID in
            var event = DeliveryEvent(
                type: .notificationSuperseded, sessionID: session, eventID: eventID.uuidString.lowercased(), position: position, notificationType: "Progress",
                at: DeliveryEvent.stamp(now)
            )
            event.reason = reason
            let recorded = NewEvent(
                id: EventIdentity.nameBased("forwarding-superseded\u{1F}\(position)"), type: event.type.rawValue, data: event.data
            )
            let row = DeliveryRecord.RowUpdate(position: position, state: "superseded", attempts: 0, reason: reason, finishedAt: now)
            return DeliveryRecord(append: AppendRequest(stream: event.stream, events: [recorded]), row: row)
        }
    }
}
