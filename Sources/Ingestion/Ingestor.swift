public import EventStore
public import Foundation
public import Ledger
public import Logging
import JSON
public import OICP
import Postgres
import Synchronization

/// Takes notifications in: validates them, decides their events against what the session's
/// stream holds, and appends them; refused ones go to the quarantine.
///
/// ```swift
/// let outcome = try await ingestor.ingest(body, context: IngestContext(receivedAt: .now, client: "cli", source: "cli"))
/// print(outcome.acknowledgement)   // Result true, code 000 — durable
/// ```
public final class Ingestor: Sendable {
    /// Ingest settings.
    ///
    /// | key | type | default |
    /// | --- | --- | --- |
    /// | `quarantinePerWindow` | refused notifications stored per window; more are counted only | 600 |
    /// | `quarantineWindow` | length of that window | 60 s |
    /// | `quarantineRawBytes` | bytes of a refused body kept | 8192 |
    /// | `conflictRetries` | re-reads of a session after a concurrent append to it | 25 |
    /// | `lifecycleCacheSize` | sessions whose lifecycle is kept for the next notification | 100,000 |
    /// | `undigestedEventsAreReplays` | an id found on an event without `metadata.content_digest` counts as a replay | false |
    /// | `errorReplayWindow` | a keyless Error equal to one of its session's within this is a replay (zero: never) | 10 min |
    public struct Configuration: Sendable {
        public var quarantinePerWindow: Int
        public var quarantineWindow: Duration
        public var quarantineRawBytes: Int
        public var conflictRetries: Int
        public var lifecycleCacheSize: Int
        /// Whether an event found under a notification's id but stored without a content digest
        /// (by a ledger older than content digests) counts as the same notification. Off: the
        /// content cannot be compared, and acknowledging a notification that may differ from
        /// what is stored would lose it; the notification is then recorded as a second one
        /// (or, under an `Idempotency-Key`, refused as a reused key).
        public var undigestedEventsAreReplays: Bool
        /// An Error has no natural identity (no timestamp, REFERENCE §1.6). Sent without an
        /// `Idempotency-Key`, one with the same content as an Error recorded for the same
        /// session within this window is taken for a retry of it (a client that timed out and
        /// sent again) and answered as a replay; after the window it is a new fact. Zero turns
        /// this off: every keyless Error is then recorded.
        public var errorReplayWindow: Duration
        /// The pepper of identification subjects (`LEDGER_IDENTIFICATION_PEPPER`); nil: the
        /// database's own (db/0019), which a backup then holds too.
        public var identificationPepper: IdentificationPepper?

        public init(
            quarantinePerWindow: Int = 600, quarantineWindow: Duration = .seconds(60), quarantineRawBytes: Int = 8192, conflictRetries: Int = 25,
            lifecycleCacheSize: Int = 100_000, undigestedEventsAreReplays: Bool = false, errorReplayWindow: Duration = .seconds(600),
            identificationPepper: IdentificationPepper? = nil
        ) {
            self.identificationPepper = identificationPepper
            self.quarantinePerWindow = quarantinePerWindow
            self.quarantineWindow = quarantineWindow
            self.quarantineRawBytes = quarantineRawBytes
            self.conflictRetries = conflictRetries
            self.lifecycleCacheSize = lifecycleCacheSize
            self.undigestedEventsAreReplays = undigestedEventsAreReplays
            self.errorReplayWindow = errorReplayWindow
        }
    }

    public let store: EventStore
    public let validator: NotificationValidator
    public let configuration: Configuration
    let logger: Logger
    let quarantine: Mutex<QuarantineWindow>
    /// Session lifecycles this process appended to lately, by stream: the expected version and
    /// lifecycle state of the next append, without a read.
    let recentLifecycles = Mutex<[String: SessionLifecycle]>([:])
    /// The pepper of identification subjects, once checked against the database's record.
    let checkedPepper = Mutex<IdentificationPepper?>(nil)

    struct QuarantineWindow {
        var start: Date
        var stored = 0
        var dropped = 0
        var droppedTotal = 0
    }

    public init(store: EventStore, validator: NotificationValidator = NotificationValidator(), configuration: Configuration = Configuration(), logger: Logger = Logger(label: "ingest")) {
        self.store = store
        self.validator = validator
        self.configuration = configuration
        self.logger = logger
        self.quarantine = Mutex(QuarantineWindow(start: .distantPast))
    }

    /// Refused notifications counted but not stored since start, because the cap was reached.
    public var quarantineDroppedTotal: Int { quarantine.withLock { $0.droppedTotal } }

    // MARK: - One notification

    /// Validates and records one notification.
    ///
    /// - Returns: the outcome with the OICP acknowledgement to answer: `Result: true` / `000`
    ///   once the event is durably appended or was appended before (a replay), `Result: false`
    ///   / `022` with every problem when the body is refused (the refusal is quarantined).
    /// - Throws: `PostgresError` / `EventStoreError` when the store failed; nothing was
    ///   acknowledged then, and sending the same body again is safe.
    public func ingest(_ body: [UInt8], context: IngestContext) async throws -> IngestOutcome {
        switch validator.validate(body) {
        case .failure(let failure):
            return await refuse(body, problems: failure.problems, context: context)
        case .success(let validated):
            return try await record(validated, rawBody: String(decoding: body, as: UTF8.self), context: context)
        }
    }

    func record(_ validated: ValidatedNotification, rawBody: String, context: IngestContext) async throws -> IngestOutcome {
        let stream = StreamName.session(validated.notification.sessionID)
        var attempt = 0
        var variant = false
        // Optimistic: what this process last saw of the session, or a new session. The append's
        // expected version makes a stale guess a conflict, answered by reading the stream.
        var lifecycle = recentLifecycles.withLock { $0[stream] } ?? SessionLifecycle()
        let notification = validated.notification
        let keylessError = notification.type == .error && context.idempotencyKey == nil
        let sealing = try await sealings(for: [notification]).first ?? nil
        while true {
            // Checked against the lifecycle the append's expected version vouches for: a stale
            // one makes the append a conflict, and the loop checks again against the stream.
            if let owner = lifecycle.owner {
                let problems = owner.problems(receiving: notification)
                if !problems.isEmpty { return await refuse(Array(rawBody.utf8), problems: problems, context: context) }
            }
            let decided = try NotificationDecision.decide(
                validated, rawBody: rawBody, lifecycle: lifecycle, context: context, variant: variant, sealing: sealing
            )
            if keylessError,
                let earlier = lifecycle.replayedError(
                    digest: decided.contentDigest, earlier: decided.earlierDigest, receivedAt: context.receivedAt, window: configuration.errorReplayWindow
                )
            {
                let range = AppendedRange(
                    streamVersion: earlier.streamVersion, firstPosition: earlier.position, lastPosition: earlier.position, transactionID: earlier.transactionID
                )
                return IngestOutcome(disposition: .alreadyAppended(range), eventID: nil, anomalies: [], acknowledgement: .accepted(notification), notificationType: notification.type.rawValue)
            }
            let result = try await store.append(
                to: stream, expected: lifecycle.version == 0 ? .noStream : .exact(lifecycle.version), events: [NewEvent(decided)]
            )
            switch result {
            case .appended(let range):
                var next = lifecycle
                next.apply(eventType: decided.type.rawValue)
                if next.owner == nil { next.owner = SessionOwner(evseID: notification.evseID, operatorID: notification.operatorID) }
                if keylessError {
                    next.remember(
                        SessionLifecycle.RecordedError(
                            digest: decided.contentDigest, receivedAt: context.receivedAt, position: range.firstPosition, streamVersion: range.streamVersion,
                            transactionID: range.transactionID
                        ))
                }
                remember(stream, next)
                return IngestOutcome(disposition: .appended(range), eventID: decided.id, anomalies: decided.anomalies, acknowledgement: .accepted(validated.notification), notificationType: validated.notification.type.rawValue)
            case .alreadyAppended(let range):
                // Found under this id: the same notification again, or another one with the same
                // identity. Only the content says which, also when the append was retried after a
                // lost connection (the store then reports what it found, whoever stored it).
                let stored = try await store.contentDigests(atPositions: [range.firstPosition])[range.firstPosition]
                if isReplay(storedDigest: stored, digest: decided.contentDigest, earlier: decided.earlierDigest) {
                    // A replay. Nothing was stored: the anomalies just computed describe no event.
                    return IngestOutcome(disposition: .alreadyAppended(range), eventID: decided.id, anomalies: [], acknowledgement: .accepted(validated.notification), notificationType: validated.notification.type.rawValue)
                }
                if let key = context.idempotencyKey {
                    throw IngestError(
                        code: .idempotencyKeyReused,
                        message: "Idempotency-Key \(key) was used before for a different notification (event at position \(range.firstPosition)); use a new key for a new notification"
                    )
                }
                guard !variant else {
                    throw IngestError(code: .conflict, message: "the second \(validated.notification.type.rawValue) for session \(validated.notification.sessionID) collided with a stored event")
                }
                // A second notification stored before db/0019 is under the id its digest then
                // gave: found there with that digest, this is its replay.
                if let earlier = decided.earlierDigest {
                    let id = EventIdentity.eventID(for: notification, idempotencyKey: context.idempotencyKey, client: context.client)
                    let legacy = NotificationDecision.variantID(of: id, digest: earlier)
                    if case .some(.some(let stored)) = try await store.contentDigests(ofEventIDs: [legacy])[legacy], stored == earlier {
                        return IngestOutcome(disposition: .alreadyAppended(range), eventID: legacy, anomalies: [], acknowledgement: .accepted(validated.notification), notificationType: validated.notification.type.rawValue)
                    }
                }
                // Same natural identity, other content: a second, different notification.
                variant = true
            case .conflict(_, let actual):
                attempt += 1
                guard attempt <= configuration.conflictRetries else {
                    throw IngestError(code: .conflict, message: "session \(validated.notification.sessionID) kept changing under concurrent appends (version \(actual)); send it again")
                }
                lifecycle = try await store.sessionLifecycles([stream])[stream] ?? SessionLifecycle()
                remember(stream, lifecycle)
            }
        }
    }

    /// Whether a stored event with `storedDigest` records the notification with `digest` (or,
    /// stored before db/0019, with `earlier`).
    func isReplay(storedDigest: String?, digest: String?, earlier: String? = nil) -> Bool {
        guard let storedDigest else { return configuration.undigestedEventsAreReplays }
        return storedDigest == digest || (earlier != nil && storedDigest == earlier)
    }

    // MARK: - Identifications

    /// How each notification's identification is kept (nil for one without): its subjects under
    /// the pepper, and its key, stored now if it has none. One statement for all of them.
    func sealings(for notifications: [ChargingNotification]) async throws -> [NotificationSealing?] {
        guard notifications.contains(where: { $0.identification != nil }) else { return notifications.map { _ in nil } }
        let pepper = try await identificationPepper()
        let subjects = notifications.map { $0.identification.map { IdentificationSubjects($0, pepper: pepper) } }
        let keys = try await store.identificationKeys(for: subjects.compactMap { $0.map { ($0, IdentificationKey.random()) } })
        return try subjects.map { subjects in
            guard let subjects else { return nil }
            guard let key = keys[subjects.primary] else {
                throw IngestError(code: .conflict, message: "the identification's key was erased while it was stored; send the notification again")
            }
            return NotificationSealing(subjects: subjects, key: key, pepper: pepper)
        }
    }

    /// The configured pepper, else the database's own; checked once against the one the
    /// database recorded first (`IdentificationPepper.checkValue`).
    func identificationPepper() async throws -> IdentificationPepper {
        if let pepper = checkedPepper.withLock({ $0 }) { return pepper }
        let pepper: IdentificationPepper
        if let configured = configuration.identificationPepper {
            pepper = configured
        } else {
            guard let stored = IdentificationPepper(bytes: try await store.storedIdentificationPepper()) else {
                throw PostgresError(code: .server, message: "ledger.identification_pepper holds fewer than 32 bytes")
            }
            pepper = stored
        }
        guard try await store.identificationPepperCheck(pepper.checkValue) == pepper.checkValue else {
            throw PepperMismatch(configured: configuration.identificationPepper != nil)
        }
        checkedPepper.withLock { $0 = pepper }
        return pepper
    }

    /// Quarantines a refused body and answers `022` with every problem.
    func refuse(_ body: [UInt8], problems: [ValidationProblem], context: IngestContext) async -> IngestOutcome {
        await quarantine(body, problems: problems, context: context)
        return IngestOutcome(
            disposition: .rejected(problems), eventID: nil, anomalies: [],
            acknowledgement: .rejected(ValidationFailure(problems: problems), sessionID: Self.sessionID(in: body))
        )
    }

    /// Keeps a session's lifecycle for the next notification of it (bounded: when full, the
    /// cache starts over; a miss costs one read).
    func remember(_ stream: String, _ lifecycle: SessionLifecycle) {
        recentLifecycles.withLock { cache in
            if cache.count >= configuration.lifecycleCacheSize { cache.removeAll(keepingCapacity: true) }
            cache[stream] = lifecycle
        }
    }
}

extension NewEvent {
    init(_ decided: DecidedEvent) {
        self.init(id: decided.id, type: decided.type.rawValue, data: decided.data, metadata: decided.metadata)
    }
}

// MARK: - Erasure

extension Ingestor {
    /// What an erasure did: the subject it named, how many keys it deleted (0: nothing the ledger
    /// stored carried it), and where its event was stored.
    public struct ErasureOutcome: Sendable {
        public let subject: String
        public let keysDeleted: Int
        public let eventID: UUID
        public let position: Int64

        /// As the CLI prints it and the API answers it.
        public var json: String {
            JSONValue.object(
                JSONObject([
                    ("subject", .string(subject)), ("keys_deleted", .number(String(keysDeleted))),
                    ("event_id", .string(eventID.uuidString.lowercased())), ("position", .number(String(position))),
                ])
            ).serialized()
        }
    }

    /// Erases an identification (db/0019): deletes every key it was seen with, so the bodies they
    /// sealed cannot be read any more, and records the erasure as an `IdentificationErased` event
    /// in the stream `erasures-YYYY-MM` (one a month), in one transaction. Erasing again deletes nothing more and is
    /// recorded again.
    public func erase(_ kind: IdentificationSubjects.Kind, value: String, requestedBy: String, at: Date = Date()) async throws -> ErasureOutcome {
        if let reason = IdentificationErasure.validate(value, kind: kind) { throw ErasureRefused(field: kind == .uid ? "uid" : "evco_id", reason: reason) }
        if let reason = IdentificationErasure.validate(requestedBy: requestedBy, erasing: value, kind: kind) {
            throw ErasureRefused(field: "requested_by", reason: reason)
        }
        let erasure = IdentificationErasure(kind: kind, value: value, pepper: try await identificationPepper(), requestedBy: requestedBy, at: at)
        let metadata = JSONValue.object(JSONObject([("requested_by", .string(requestedBy)), ("source", .string("erasure"))])).serialized()
        let event = NewEvent(type: LedgerEventType.identificationErased.rawValue, data: erasure.eventData, metadata: metadata)
        // A refused notification's kept bytes may carry the identification anywhere: those that
        // do are found by opening them, and their keys go with the identification's.
        var rejectionKeys: [UUID] = []
        let needle = IdentificationSubjects.canonical(value, kind: kind)
        try await store.sealedRejections { batch in
            for (key, box) in batch {
                guard let bytes = SealedBox.open(box, with: key) else { continue }
                var texts = [String(decoding: bytes, as: UTF8.self)]
                // A body that was not UTF-8 is kept as base64: search its bytes too.
                if case .object(let kept)? = try? JSONParser.parse(bytes, maxDepth: 8, maxBytes: .max), let raw = kept["raw"]?.stringValue,
                    let decoded = Data(base64Encoded: raw)
                {
                    texts.append(String(decoding: decoded, as: UTF8.self))
                }
                if texts.contains(where: { IdentificationSubjects.canonical($0, kind: kind).contains(needle) }) { rejectionKeys.append(key.id) }
            }
        }
        let (keys, position) = try await store.eraseIdentification(subject: erasure.subject, rejectionKeys: rejectionKeys, event: event)
        logger.notice("an identification was erased", metadata: ["subject": "\(erasure.subjectText)", "keys_deleted": "\(keys)", "position": "\(position)"])
        return ErasureOutcome(subject: erasure.subjectText, keysDeleted: keys, eventID: event.id, position: position)
    }
}

/// This process's pepper is not the one the database recorded (db/0019): it would name the same
/// identification differently, so it names none.
public struct PepperMismatch: Error, CustomStringConvertible {
    /// Whether this process has `LEDGER_IDENTIFICATION_PEPPER` set.
    public let configured: Bool

    public var description: String {
        configured
            ? "LEDGER_IDENTIFICATION_PEPPER is not the pepper this database's identifications are named with (another value, or the database's own): use the one set before"
            : "this database's identifications are named with LEDGER_IDENTIFICATION_PEPPER, which this process does not have: set it as on the other instances"
    }
}

/// An erasure request that cannot be carried out as asked: which field, and why.
public struct ErasureRefused: Error, CustomStringConvertible {
    public let field: String
    public let reason: String
    public var description: String { "\(field) \(reason)" }
}
