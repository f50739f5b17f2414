public import EventStore
public import Foundation
public import Ledger
public import Logging
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

        public init(
            quarantinePerWindow: Int = 600, quarantineWindow: Duration = .seconds(60), quarantineRawBytes: Int = 8192, conflictRetries: Int = 25,
            lifecycleCacheSize: Int = 100_000, undigestedEventsAreReplays: Bool = false, errorReplayWindow: Duration = .seconds(600)
        ) {
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
    private let logger: Logger
    private let quarantine: Mutex<QuarantineWindow>
    /// Session lifecycles this process appended to lately, by stream: the expected version and
    /// lifecycle state of the next append, without a read.
    private let recentLifecycles = Mutex<[String: SessionLifecycle]>([:])

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

    private func record(_ validated: ValidatedNotification, rawBody: String, context: IngestContext) async throws -> IngestOutcome {
        let stream = StreamName.session(validated.notification.sessionID)
        var attempt = 0
        var variant = false
        // Optimistic: what this process last saw of the session, or a new session. The append's
        // expected version makes a stale guess a conflict, answered by reading the stream.
        var lifecycle = recentLifecycles.withLock { $0[stream] } ?? SessionLifecycle()
        let notification = validated.notification
        let keylessError = notification.type == .error && context.idempotencyKey == nil
        while true {
            // Checked against the lifecycle the append's expected version vouches for: a stale
            // one makes the append a conflict, and the loop checks again against the stream.
            if let owner = lifecycle.owner {
                let problems = owner.problems(receiving: notification)
                if !problems.isEmpty { return await refuse(Array(rawBody.utf8), problems: problems, context: context) }
            }
            let decided = NotificationDecision.decide(validated, rawBody: rawBody, lifecycle: lifecycle, context: context, variant: variant)
            if keylessError, let earlier = lifecycle.replayedError(digest: decided.contentDigest, receivedAt: context.receivedAt, window: configuration.errorReplayWindow) {
                let range = AppendedRange(
                    streamVersion: earlier.streamVersion, firstPosition: earlier.position, lastPosition: earlier.position, transactionID: earlier.transactionID
                )
                return IngestOutcome(disposition: .alreadyAppended(range), eventID: nil, anomalies: [], acknowledgement: .accepted(notification))
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
                return IngestOutcome(disposition: .appended(range), eventID: decided.id, anomalies: decided.anomalies, acknowledgement: .accepted(validated.notification))
            case .alreadyAppended(let range):
                // Found under this id: the same notification again, or another one with the same
                // identity. Only the content says which, also when the append was retried after a
                // lost connection (the store then reports what it found, whoever stored it).
                let stored = try await contentDigests(atPositions: [range.firstPosition])[range.firstPosition]
                if isReplay(storedDigest: stored, digest: decided.contentDigest) {
                    // A replay. Nothing was stored: the anomalies just computed describe no event.
                    return IngestOutcome(disposition: .alreadyAppended(range), eventID: decided.id, anomalies: [], acknowledgement: .accepted(validated.notification))
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
                // Same natural identity, other content: a second, different notification.
                variant = true
            case .conflict(_, let actual):
                attempt += 1
                guard attempt <= configuration.conflictRetries else {
                    throw IngestError(code: .conflict, message: "session \(validated.notification.sessionID) kept changing under concurrent appends (version \(actual)); send it again")
                }
                lifecycle = try await lifecycles(of: [stream])[stream] ?? SessionLifecycle()
                remember(stream, lifecycle)
            }
        }
    }

    /// Whether a stored event with `storedDigest` records the notification with `digest`.
    func isReplay(storedDigest: String?, digest: String?) -> Bool {
        guard let storedDigest else { return configuration.undigestedEventsAreReplays }
        return storedDigest == digest
    }

    /// Quarantines a refused body and answers `022` with every problem.
    private func refuse(_ body: [UInt8], problems: [ValidationProblem], context: IngestContext) async -> IngestOutcome {
        await quarantine(body, problems: problems, context: context)
        return IngestOutcome(
            disposition: .rejected(problems), eventID: nil, anomalies: [],
            acknowledgement: .rejected(ValidationFailure(problems: problems), sessionID: Self.sessionID(in: body))
        )
    }

    /// Keeps a session's lifecycle for the next notification of it (bounded: when full, the
    /// cache starts over; a miss costs one read).
    private func remember(_ stream: String, _ lifecycle: SessionLifecycle) {
        recentLifecycles.withLock { cache in
            if cache.count >= configuration.lifecycleCacheSize { cache.removeAll(keepingCapacity: true) }
            cache[stream] = lifecycle
        }
    }

    /// The events stored under these ids, each with its `metadata.content_digest` (nil inside
    /// when it has none).
    func storedDigests(ofEventIDs ids: [UUID]) async throws -> [UUID: String?] {
        guard !ids.isEmpty else { return [:] }
        let list = ids.map { $0.uuidString }
        let query: PostgresQuery = "SELECT event_id::text, metadata->>'content_digest' FROM ledger.events WHERE event_id = ANY (\(list)::uuid[])"
        return try await store.pool.run { session in
            var found: [UUID: String?] = [:]
            for row in try session.query(query).rows {
                guard let id = UUID(uuidString: try row.decode(String.self, column: 0)) else { continue }
                found[id] = .some(try row.decode(String?.self, column: 1))
            }
            return found
        }
    }

    /// `metadata.content_digest` of the events at these positions.
    func contentDigests(atPositions positions: [Int64]) async throws -> [Int64: String] {
        guard !positions.isEmpty else { return [:] }
        let list = positions.map(String.init)
        let query: PostgresQuery = "SELECT global_position, metadata->>'content_digest' FROM ledger.events WHERE global_position = ANY (\(list)::bigint[])"
        return try await store.pool.run { session in
            var digests: [Int64: String] = [:]
            for row in try session.query(query).rows {
                if let digest = try row.decode(String?.self, column: 1) { digests[try row.decode(Int64.self, column: 0)] = digest }
            }
            return digests
        }
    }

    // MARK: - Bulk import

    /// Validates and records a batch of archive lines, in order, in as few statements as
    /// possible. A line's Error notification uses `errorKey` as its idempotency key (an Error
    /// has no natural identity), so importing the same file again stores nothing.
    public func importBatch(_ lines: [ImportLine], context: IngestContext) async throws -> [ImportLineOutcome] {
        try await importValidated(lines.map { ($0, validator.validate($0.bytes)) }, context: context)
    }

    /// `importBatch` for lines the caller validated already (to route them by session first).
    public func importValidated(
        _ lines: [(line: ImportLine, validation: Result<ValidatedNotification, ValidationFailure>)], context: IngestContext
    ) async throws -> [ImportLineOutcome] {
        var outcomes = [ImportLineOutcome?](repeating: nil, count: lines.count)
        var valid: [(index: Int, validated: ValidatedNotification)] = []
        for (index, item) in lines.enumerated() {
            switch item.validation {
            case .failure(let failure): outcomes[index] = .rejected(failure.problems)
            case .success(let validated): valid.append((index, validated))
            }
        }
        let lines = lines.map(\.line)
        let streams = Array(Set(valid.map { StreamName.session($0.validated.notification.sessionID) }))
        var states = try await lifecycles(of: streams)

        // Replays are found before the batch is built. A replay stores nothing, so deciding it as
        // if it were appended would shift the versions its session's later lines expect; those
        // lines would then conflict and be recorded after the batch, out of the file's order
        // (and an archive's line order is its receipt order).
        var identities: [Int: (id: UUID, variantID: UUID, digest: String)] = [:]
        for (index, validated) in valid {
            let lineContext = Self.context(context, for: lines[index], validated)
            let id = EventIdentity.eventID(for: validated.notification, idempotencyKey: lineContext.idempotencyKey, client: lineContext.client)
            let digest = NotificationDecision.contentDigest(validated.body)
            identities[index] = (id, NotificationDecision.variantID(of: id, digest: digest), digest)
        }
        var known = try await storedDigests(ofEventIDs: identities.values.flatMap { [$0.id, $0.variantID] })

        var requests: [AppendRequest] = []
        var requestLine: [Int] = []
        var digests: [Int: String] = [:]
        for (index, validated) in valid {
            let stream = StreamName.session(validated.notification.sessionID)
            let state = states[stream] ?? SessionLifecycle()
            if let problems = state.owner?.problems(receiving: validated.notification), !problems.isEmpty {
                outcomes[index] = .rejected(problems)
                continue
            }
            var variant = false
            if let identity = identities[index], let found = known[identity.id] {
                if isReplay(storedDigest: found, digest: identity.digest) {
                    outcomes[index] = .alreadyAppended
                    continue
                }
                // Same natural identity, other content: a second notification, unless that one
                // is stored (or earlier in this batch) already.
                if let variantFound = known[identity.variantID] {
                    outcomes[index] = isReplay(storedDigest: variantFound, digest: identity.digest)
                        ? .alreadyAppended : .failed("a second notification with this identity collided with a stored event")
                    continue
                }
                variant = true
            }
            let decided = NotificationDecision.decide(
                validated, rawBody: String(decoding: lines[index].bytes, as: UTF8.self), lifecycle: state,
                context: Self.context(context, for: lines[index], validated), variant: variant
            )
            known[decided.id] = .some(decided.contentDigest)
            requests.append(AppendRequest(stream: stream, expected: state.version == 0 ? .noStream : .exact(state.version), events: [NewEvent(decided)]))
            requestLine.append(index)
            digests[index] = decided.contentDigest
            states[stream, default: SessionLifecycle()].apply(eventType: decided.type.rawValue)
            if state.owner == nil {
                states[stream]?.owner = SessionOwner(evseID: validated.notification.evseID, operatorID: validated.notification.operatorID)
            }
        }

        let results = try await store.appendBatch(requests)
        var retry: [Int] = []
        var replays: [(index: Int, position: Int64)] = []
        for (result, index) in zip(results, requestLine) {
            switch result {
            case .success(.appended): outcomes[index] = .appended
            case .success(.alreadyAppended(let range)):
                outcomes[index] = .alreadyAppended
                replays.append((index, range.firstPosition))
            // An earlier line of the batch was a replay, so the versions after it moved: record
            // the line again on its own, against the stream as it is now.
            case .success(.conflict): retry.append(index)
            case .failure(let error): outcomes[index] = .failed("\(error)")
            }
        }
        // A replay is the same notification again; one with other content under the same natural
        // identity is a second notification and is recorded on its own.
        let stored = try await contentDigests(atPositions: replays.map(\.position))
        for replay in replays where !isReplay(storedDigest: stored[replay.position], digest: digests[replay.index]) {
            retry.append(replay.index)
        }
        let validatedByIndex = Dictionary(uniqueKeysWithValues: valid.map { ($0.index, $0.validated) })
        // In file order, so a session's lines are recorded in the order they were written.
        for index in retry.sorted() {
            guard let validated = validatedByIndex[index] else { continue }
            let outcome: IngestOutcome
            do {
                outcome = try await record(
                    validated, rawBody: String(decoding: lines[index].bytes, as: UTF8.self),
                    context: Self.context(context, for: lines[index], validated)
                )
            } catch let error as IngestError {
                outcomes[index] = .failed(error.message)
                continue
            }
            switch outcome.disposition {
            case .appended: outcomes[index] = .appended
            case .alreadyAppended: outcomes[index] = .alreadyAppended
            case .rejected(let problems): outcomes[index] = .rejected(problems)
            }
        }
        return outcomes.map { $0 ?? .failed("not processed") }
    }

    /// An import line's context: an Error uses the line's key (it has no natural identity); the
    /// other types are identified by what they are.
    static func context(_ context: IngestContext, for line: ImportLine, _ validated: ValidatedNotification) -> IngestContext {
        var lineContext = context
        lineContext.idempotencyKey = validated.notification.type == .error ? line.errorKey : nil
        return lineContext
    }

    // MARK: - Lifecycle state

    /// The lifecycle of each named session stream that exists, in one query.
    func lifecycles(of streams: [String]) async throws -> [String: SessionLifecycle] {
        guard !streams.isEmpty else { return [:] }
        // One index probe per stream. Written as `stream_id = ANY (…) GROUP BY`, the planner turns
        // to a (parallel) scan of the whole table once it is large, and every batch of an import
        // would then cost more than the last.
        // The session's owner comes from its first event; its recent keyless Errors (newest
        // `recentErrorLimit`) from the stream's tail, both by the (stream_id, stream_version) key.
        let query: PostgresQuery = """
            SELECT s.stream, m.version, m.started, m.ended, f.evse_id, f.operator_id, r.errors
              FROM unnest(\(streams)::text[]) AS s(stream)
             CROSS JOIN LATERAL (
                    SELECT max(e.stream_version) AS version,
                           bool_or(e.event_type = 'ChargingStarted') AS started,
                           bool_or(e.event_type = 'ChargingEnded') AS ended
                      FROM ledger.events AS e
                     WHERE e.stream_id = s.stream
                   ) AS m
              LEFT JOIN LATERAL (
                    SELECT e.data->>'evse_id' AS evse_id, e.data->>'operator_id' AS operator_id
                      FROM ledger.events AS e
                     WHERE e.stream_id = s.stream
                     ORDER BY e.stream_version
                     LIMIT 1
                   ) AS f ON true
              LEFT JOIN LATERAL (
                    SELECT jsonb_agg(jsonb_build_array(x.digest, x.received_at, x.position, x.version, x.tx) ORDER BY x.version) AS errors
                      FROM (SELECT e.metadata->>'content_digest' AS digest, e.metadata->>'received_at' AS received_at,
                                   e.global_position AS position, e.stream_version AS version, e.transaction_id::text AS tx
                              FROM ledger.events AS e
                             WHERE e.stream_id = s.stream AND e.event_type = 'ChargingErrorReported' AND NOT e.metadata ? 'idempotency_key'
                             ORDER BY e.stream_version DESC
                             LIMIT \(SessionLifecycle.recentErrorLimit)) AS x
                   ) AS r ON true
             WHERE m.version IS NOT NULL
            """
        return try await store.pool.run { session in
            var states: [String: SessionLifecycle] = [:]
            for row in try session.query(query).rows {
                let evseID = try row.decode(String?.self, column: 4), operatorID = try row.decode(String?.self, column: 5)
                states[try row.decode(String.self, column: 0)] = SessionLifecycle(
                    version: try row.decode(Int.self, column: 1), started: try row.decode(Bool.self, column: 2), ended: try row.decode(Bool.self, column: 3),
                    owner: evseID.flatMap { evse in operatorID.map { SessionOwner(evseID: evse, operatorID: $0) } },
                    recentErrors: Self.recordedErrors(try row.decode(String?.self, column: 6))
                )
            }
            return states
        }
    }

    /// `[[digest, received_at, position, version, transaction], …]` as the lifecycle query
    /// aggregates them; entries without a digest or a readable time are left out.
    static func recordedErrors(_ json: String?) -> [SessionLifecycle.RecordedError] {
        guard let json, let value = try? JSONParser.parse(Array(json.utf8), maxDepth: 4, maxBytes: 1 << 20), let rows = value.arrayValue else { return [] }
        return rows.compactMap { row in
            guard let fields = row.arrayValue, fields.count == 5, let digest = fields[0].stringValue,
                let receivedAt = fields[1].stringValue.flatMap(Timestamp.init), let position = fields[2].numberText.flatMap({ Int64($0) }),
                let version = fields[3].numberText.flatMap({ Int($0) }), let transaction = fields[4].stringValue.flatMap({ UInt64($0) })
            else { return nil }
            return SessionLifecycle.RecordedError(
                digest: digest, receivedAt: Date(timeIntervalSince1970: Double(receivedAt.epochMilliseconds) / 1000), position: position,
                streamVersion: version, transactionID: transaction
            )
        }
    }

    // MARK: - Quarantine

    /// Records a refused body, unless this window's cap is reached; then it is only counted,
    /// and the count is recorded as `RejectionsDropped` when the window closes.
    public func quarantine(_ body: [UInt8], problems: [ValidationProblem], context: IngestContext) async {
        let windowLength = Double(configuration.quarantineWindow.components.seconds)
        let (store, closedWindow) = quarantine.withLock { window -> (Bool, (count: Int, start: Date)?) in
            var closed: (Int, Date)?
            if context.receivedAt.timeIntervalSince(window.start) >= windowLength {
                if window.dropped > 0 { closed = (window.dropped, window.start) }
                window = QuarantineWindow(start: context.receivedAt, droppedTotal: window.droppedTotal)
            }
            if window.stored < configuration.quarantinePerWindow {
                window.stored += 1
                return (true, closed)
            }
            window.dropped += 1
            window.droppedTotal += 1
            return (false, closed)
        }
        var events: [DecidedEvent] = []
        if let closedWindow {
            events.append(
                NotificationDecision.rejectionsDropped(
                    count: closedWindow.count, windowStart: closedWindow.start,
                    windowEnd: closedWindow.start.addingTimeInterval(windowLength), context: context
                )
            )
        }
        if store {
            events.append(NotificationDecision.rejection(rawBody: body, problems: problems, context: context, rawCap: configuration.quarantineRawBytes))
        }
        for event in events {
            do {
                _ = try await self.store.append(to: event.stream, events: [NewEvent(event)])
            } catch {
                // The client still gets its rejection; the quarantine is best effort.
                logger.warning("could not record a refused notification", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The SessionID of a refused body, if it has a usable one, to echo in the acknowledgement.
    static func sessionID(in body: [UInt8]) -> String? {
        guard body.count <= 65_536, let value = try? JSONParser.parse(body, maxDepth: 16, maxBytes: 65_536),
            let id = value["SessionID"]?.stringValue, id.utf8.count == 36
        else { return nil }
        return id
    }
}

extension NewEvent {
    init(_ decided: DecidedEvent) {
        self.init(id: decided.id, type: decided.type.rawValue, data: decided.data, metadata: decided.metadata)
    }
}

/// What `Ingestor.ingest` did.
public struct IngestOutcome: Sendable {
    public enum Disposition: Sendable {
        case appended(AppendedRange)
        case alreadyAppended(AppendedRange)
        case rejected([ValidationProblem])
    }

    public var disposition: Disposition
    public var eventID: UUID?
    /// The anomalies recorded on the event just appended; empty for a replay or a refusal.
    public var anomalies: [Anomaly]
    public var acknowledgement: Acknowledgement
}

/// One line of an NDJSON archive.
public struct ImportLine: Sendable {
    public var number: Int
    public var bytes: [UInt8]
    /// The idempotency key for an Error on this line: derived from the line's content and how
    /// often that content occurred before in the file.
    public var errorKey: String

    public init(number: Int, bytes: [UInt8], errorKey: String) {
        self.number = number
        self.bytes = bytes
        self.errorKey = errorKey
    }
}

public enum ImportLineOutcome: Sendable, Equatable {
    case appended
    case alreadyAppended
    case rejected([ValidationProblem])
    case failed(String)
}

public struct IngestError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The session kept changing under concurrent appends; sending again is safe.
        case conflict
        /// The Idempotency-Key was used before for a different notification.
        case idempotencyKeyReused = "idempotency_key_reused"
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
