public import EventStore
public import Foundation
public import Ledger
import Logging
public import OICP
import Synchronization

/// Archive import: many validated lines in as few statements as possible.
extension Ingestor {
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
        var states = try await store.sessionLifecycles(streams)

        // Replays are found before the batch is built. A replay stores nothing, so deciding it as
        // if it were appended would shift the versions its session's later lines expect; those
        // lines would then conflict and be recorded after the batch, out of the file's order
        // (and an archive's line order is its receipt order).
        let sealings = Dictionary(
            uniqueKeysWithValues: zip(valid.map(\.index), try await self.sealings(for: valid.map(\.validated.notification)))
        )
        // Each line's id and digests, computed once: looked up here, then handed to `decide`.
        var identities: [Int: NotificationIdentity] = [:]
        for (index, validated) in valid {
            identities[index] = NotificationIdentity(validated, context: Self.context(context, for: lines[index], validated), sealing: sealings[index] ?? nil)
        }
        var known = try await store.contentDigests(ofEventIDs: identities.values.map(\.id))
        // A line's variant ids matter only when its natural id is taken: stored, or by an earlier
        // line of this batch. Looked up for those lines alone (on a new archive, none: half the
        // ids probed, and no variant id computed).
        var naturalIDs: [UUID: Int] = [:]
        for identity in identities.values { naturalIDs[identity.id, default: 0] += 1 }
        var variants: [Int: (id: UUID, earlier: UUID?)] = [:]
        for (index, identity) in identities where known[identity.id] != nil || naturalIDs[identity.id, default: 0] > 1 {
            variants[index] = (identity.variantID, identity.earlierVariantID)
        }
        if !variants.isEmpty {
            known.merge(try await store.contentDigests(ofEventIDs: variants.values.flatMap { [$0.id] + ($0.earlier.map { [$0] } ?? []) })) { $1 }
        }

        var requests: [AppendRequest] = []
        var requestLine: [Int] = []
        var digests: [Int: (current: String, earlier: String?)] = [:]
        for (index, validated) in valid {
            let stream = StreamName.session(validated.notification.sessionID)
            let state = states[stream] ?? SessionLifecycle()
            if let problems = state.owner?.problems(receiving: validated.notification), !problems.isEmpty {
                outcomes[index] = .rejected(problems)
                continue
            }
            var variant = false
            let identity = identities[index]
            if let identity, let found = known[identity.id] {
                let (digest, earlier) = (identity.contentDigest, identity.earlierDigest)
                if isReplay(storedDigest: found, digest: digest, earlier: earlier) {
                    outcomes[index] = .alreadyAppended
                    continue
                }
                // Same natural identity, other content: a second notification, unless that one
                // is stored (or earlier in this batch) already.
                let variantIDs = variants[index] ?? (identity.variantID, identity.earlierVariantID)
                if let legacy = variantIDs.earlier, let legacyFound = known[legacy], isReplay(storedDigest: legacyFound, digest: earlier) {
                    // A second notification stored before db/0019, under the id its digest then gave.
                    outcomes[index] = .alreadyAppended
                    continue
                }
                if let variantFound = known[variantIDs.id] {
                    outcomes[index] = isReplay(storedDigest: variantFound, digest: digest, earlier: earlier)
                        ? .alreadyAppended : .failed("a second notification with this identity collided with a stored event")
                    continue
                }
                variant = true
            }
            let decided = try NotificationDecision.decide(
                validated, rawBody: String(decoding: lines[index].bytes, as: UTF8.self), lifecycle: state,
                context: Self.context(context, for: lines[index], validated), variant: variant, sealing: sealings[index] ?? nil,
                identity: identity
            )
            known[decided.id] = .some(decided.contentDigest)
            requests.append(AppendRequest(stream: stream, expected: state.version == 0 ? .noStream : .exact(state.version), events: [NewEvent(decided)]))
            requestLine.append(index)
            digests[index] = (decided.contentDigest, decided.earlierDigest)
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
        let stored = try await store.contentDigests(atPositions: replays.map(\.position))
        for replay in replays
        where !isReplay(storedDigest: stored[replay.position], digest: digests[replay.index]?.current, earlier: digests[replay.index]?.earlier) {
            retry.append(replay.index)
        }
        let validatedByIndex = retry.isEmpty ? [:] : Dictionary(uniqueKeysWithValues: valid.map { ($0.index, $0.validated) })
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
}
