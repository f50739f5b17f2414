import Crypto
import JSON
public import Foundation
public import Postgres

/// Tamper evidence (db/0017): each event's hash chains it to the one before it in its stream,
/// and seals chain the store's order. `verifyChains` recomputes both here, outside the database,
/// from the stored values: a function the database owner redefined cannot vouch for itself.
extension EventStore {
    /// How often the active projector seals the store's new events.
    public static let sealInterval = Duration.seconds(10)

    /// Seals every event below the read horizon that no seal holds yet (`ledger.seal`, in seals
    /// of at most `sealSize` events); returns how many it sealed.
    @discardableResult
    public func seal(sealSize: Int = 50_000) async throws -> Int {
        let sealSize = min(max(sealSize, 1), 50_000)  // as ledger.seal clamps it
        return try await pool.run { session in try Self.sealAll(on: session, sealSize: sealSize) }
    }

    /// Seals every event below the read horizon that no seal holds yet, `sealSize` a seal, on a
    /// connection of the caller's; returns how many.
    @discardableResult
    static func sealAll(on session: PostgresSession, sealSize: Int = 50_000) throws -> Int {
        var total = 0
        while true {
            let sealed = try sealChunk(on: session, size: sealSize)
            total += sealed
            if sealed < sealSize { return total }
        }
    }

    /// Seals at most `size` of the events below the read horizon that no seal holds yet, as one
    /// seal, on a connection of the caller's; returns how many (fewer than `size`: none are left).
    public static func sealChunk(on session: PostgresSession, size: Int) throws -> Int {
        try session.prepared("SELECT ledger.seal(\(size))").decode(Int.self, row: 0, column: 0)
    }

    /// How long ago the first event after the newest seal (in the store's order) was recorded;
    /// nil when every event is sealed. Grows when sealing stalls: no active projector, or a
    /// transaction holding the read horizon back. One index probe.
    public func unsealedAge() async throws -> Duration? {
        let seconds = try await pool.run { session in
            try session.prepared(
                """
                WITH last AS (SELECT transaction_id, global_position FROM ledger.seals ORDER BY seal DESC LIMIT 1)
                SELECT extract(epoch FROM now() - e.recorded_at)::float8 FROM ledger.events e
                 WHERE (e.transaction_id, e.global_position)
                       > (coalesce((SELECT transaction_id FROM last), '0'::xid8), coalesce((SELECT global_position FROM last), 0))
                 ORDER BY e.transaction_id, e.global_position LIMIT 1
                """
            ).rows.first.map { try $0.decode(Double.self, column: 0) }
        }
        return seconds.map { .milliseconds(Int64(max(0, $0) * 1000)) }
    }

    /// Recomputes every event's hash from its stored values and every seal's chain from its
    /// events, on a connection of its own, and reports what does not match (the first
    /// `findingLimit` findings; all are counted).
    ///
    /// Pages through the store by `(stream_id, stream_version)` and then seal by seal: memory
    /// stays at a page and a seal, whatever the store's size.
    ///
    /// - Parameter anchors: seal chains recorded earlier outside the database (`Head`s): each
    ///   seal must still have that chain. Without them, a history rewritten whole, seals and all,
    ///   by someone with the owner's rights verifies; with them, it does not.
    public func verifyChains(
        anchors: [ChainVerification.Head] = [], findingLimit: Int = 1000, pageSize: Int = 5000
    ) async throws -> ChainVerification {
        try await Self.verifyChains(url: url, anchors: anchors, findingLimit: findingLimit, pageSize: pageSize)
    }

    /// `verifyChains` on the database at `url`, without opening a store: it reads and never
    /// writes, so it runs on a hot standby or a restored backup as well (the stronger check: a
    /// copy the owner of the primary does not control).
    public static func verifyChains(
        url: String, anchors: [ChainVerification.Head] = [], findingLimit: Int = 1000, pageSize: Int = 5000
    ) async throws -> ChainVerification {
        let started = ContinuousClock.now
        let connection = try await PostgresConnection.connect(url, applicationName: "error-ledger verify")
        var report = try await connection.run { session in
            // The text the hashes cover is UTF-8, and every name resolves to the built-in one,
            // whatever the role or the database set.
            try session.execute(unsafeSQL: "SET client_encoding = 'UTF8'; SET search_path = pg_catalog")
            var report = ChainVerification(findingLimit: findingLimit)
            try verifyStreams(on: session, pageSize: pageSize, report: &report)
            try verifySeals(on: session, anchors: anchors, report: &report)
            return report
        }
        report.seconds = (ContinuousClock.now - started) / .seconds(1)
        return report
    }

    /// Every stream in version order: each event's hash from the stored hash of the event before
    /// it in its stream and its own values, and no version missing.
    private static func verifyStreams(on session: PostgresSession, pageSize: Int, report: inout ChainVerification) throws {
        var after = (stream: "", version: 0)
        var previous: (stream: [UInt8], version: Int, hash: [UInt8])?
        while true {
            // Each column's text is what `ledger.event_hash` joins (the same output functions).
            let rows = try session.prepared(
                """
                SELECT global_position, stream_id, stream_version, event_id, event_type, data::text, metadata::text, transaction_id,
                       (extract(epoch FROM recorded_at) * 1000000)::bigint, encode(hash, 'hex')
                  FROM ledger.events
                 WHERE (stream_id, stream_version) > (\(after.stream), \(after.version))
                 ORDER BY stream_id, stream_version
                 LIMIT \(pageSize)
                """
            )
            guard rows.rowCount > 0 else { return }
            for row in rows.rows {
                let position: Int64 = try row.decode(column: 0)
                let stream: String = try row.decode(column: 1)
                let version: Int = try row.decode(column: 2)
                let stored = Hex.decode(try row.decode(String.self, column: 9)) ?? []
                report.events += 1
                // Byte for byte: Swift's String equality would take two spellings of one
                // character for one stream.
                let streamBytes = Array(stream.utf8)
                let before = previous?.stream == streamBytes ? previous : nil
                let expected = (before?.version ?? 0) + 1
                if version > expected {
                    report.record(.versionsMissing(stream: stream, versions: expected...(version - 1), before: position))
                }
                var hasher = SHA256()
                hasher.update(data: before?.hash ?? [UInt8](repeating: 0, count: 32))
                // ledger.event_hash's order: stream_id … transaction_id, global_position, recorded_at.
                for (index, column) in [1, 2, 3, 4, 5, 6, 7, 0, 8].enumerated() {
                    if index > 0 { hasher.update(data: [0x0A]) }
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(row.result.bytes(row: row.index, column: column)))
                }
                if Array(hasher.finalize()) != stored {
                    report.record(.hashMismatch(position: position, stream: stream, version: version))
                }
                // The next event chains from this one's stored hash: one changed row is one
                // finding (and one for the event after a deleted one), not every row after it.
                previous = (streamBytes, version, stored)
                after = (stream, version)
            }
        }
    }

    struct RetentionCut {
        var month: String
        var retiredSeal: Int64
        var retiredChain: String
    }

    /// The anchors retention cuts left (db/0020), each checked against the RetentionCut event
    /// that recorded it in the store (chained and sealed like any event): the retired seal, its
    /// chain, and the digest of the dropped hashes. A record whose own month went since is not
    /// there to check.
    private static func retentionCuts(on session: PostgresSession, report: inout ChainVerification) throws -> [RetentionCut] {
        let rows = try session.query(
            """
            SELECT to_char(c.stream_month, 'YYYY-MM'), c.retired_seal, encode(c.retired_seal_chain, 'hex'),
                   (SELECT count(*) FROM ledger.retention_dropped_hashes d WHERE d.cut = c.cut),
                   (SELECT encode(sha256(coalesce(string_agg(int8send(d.global_position) || d.hash, ''::bytea ORDER BY d.global_position), ''::bytea)), 'hex')
                      FROM ledger.retention_dropped_hashes d WHERE d.cut = c.cut),
                   e.data::text,
                   EXISTS (SELECT 1 FROM ledger.retention_cuts r
                            WHERE r.stream_month IN (date_trunc('month', c.started_at AT TIME ZONE 'UTC')::date,
                                                     date_trunc('month', coalesce(c.dropped_at, c.started_at) AT TIME ZONE 'UTC')::date))
              FROM ledger.retention_cuts c
              LEFT JOIN ledger.events e ON e.global_position = c.record_position AND e.event_type = 'RetentionCut'
             WHERE c.state IN ('anchored', 'dropped')
             ORDER BY c.stream_month
            """
        )
        var cuts: [RetentionCut] = []
        for row in rows.rows {
            let month: String = try row.decode(column: 0)
            let cut = RetentionCut(
                month: month, retiredSeal: try row.decode(Int64?.self, column: 1) ?? 0, retiredChain: try row.decode(String?.self, column: 2) ?? ""
            )
            cuts.append(cut)
            guard let data = try row.decode(String?.self, column: 5) else {
                // The record lives in the month the cut ran; once that month is cut too, it is gone.
                if !(try row.decode(Bool.self, column: 6)) {
                    report.record(.retentionRecordMismatch(month: month, what: "has no RetentionCut event at its record position"))
                }
                continue
            }
            let record = (try? JSONParser.parse(data.utf8, maxDepth: 8, maxBytes: 1 << 20))?.objectValue
            let expected: [(String, String)] = [
                ("month", month), ("retired_seal", cut.retiredSeal == 0 ? "" : String(cut.retiredSeal)), ("retired_seal_chain", cut.retiredChain),
                ("dropped_hashes", String(try row.decode(Int64.self, column: 3))), ("dropped_digest", try row.decode(String.self, column: 4)),
            ]
            for (key, value) in expected {
                let stored = record?[key].map { $0.stringValue ?? $0.numberText ?? "" } ?? ""
                if stored != value { report.record(.retentionRecordMismatch(month: month, what: "has \(key) \(value), its RetentionCut event \(stored)")) }
            }
        }
        return cuts
    }

    /// Every seal: its events are where it says, in its order, and its chain follows from the
    /// previous seal's and their hashes.
    private static func verifySeals(
        on session: PostgresSession, anchors: [ChainVerification.Head], report: inout ChainVerification
    ) throws {
        var anchored = Dictionary(anchors.map { ($0.seal, $0.chain.lowercased()) }, uniquingKeysWith: { first, _ in first })
        // Retention (db/0020): seals up to `retired` held only events of months that went, and
        // each cut recorded its newest such seal's chain; the events that went from later seals
        // left their hashes.
        let cuts = try retentionCuts(on: session, report: &report)
        let retired = cuts.map(\.retiredSeal).max() ?? 0
        let retiredChains = Dictionary(cuts.map { ($0.retiredSeal, $0.retiredChain) }, uniquingKeysWith: { first, _ in first })
        let cutMonths = Set(cuts.map(\.month))
        var dropped: [Int64: [UInt8]] = [:]
        for row in try session.query("SELECT global_position, encode(hash, 'hex') FROM ledger.retention_dropped_hashes").rows {
            dropped[try row.decode(Int64.self, column: 0)] = Hex.decode(try row.decode(String.self, column: 1)) ?? []
        }
        var chain = [UInt8](repeating: 0, count: 32)
        var from = (transactionID: "0", position: Int64(0))
        var lastSeal: Int64 = 0
        while true {
            let seals = try session.prepared(
                """
                SELECT seal, transaction_id::text, global_position, positions::text, encode(chain, 'hex')
                  FROM ledger.seals WHERE seal > \(lastSeal) ORDER BY seal LIMIT 100
                """
            )
            guard seals.rowCount > 0 else { break }
            for row in seals.rows {
                let seal: Int64 = try row.decode(column: 0)
                let to = (transactionID: try row.decode(String.self, column: 1), position: try row.decode(Int64.self, column: 2))
                let sealed = try row.decode(String.self, column: 3).dropFirst().dropLast().split(separator: ",").compactMap { Int64($0) }
                let storedChain = Hex.decode(try row.decode(String.self, column: 4)) ?? []
                let events = try session.prepared(
                    """
                    SELECT global_position, encode(hash, 'hex'), to_char(stream_month, 'YYYY-MM') FROM ledger.events
                     WHERE (transaction_id, global_position) > (\(from.transactionID)::xid8, \(from.position))
                       AND (transaction_id, global_position) <= (\(to.transactionID)::xid8, \(to.position))
                     ORDER BY transaction_id, global_position
                    """
                ).rows.map {
                    (
                        position: try $0.decode(Int64.self, column: 0), hash: Hex.decode(try $0.decode(String.self, column: 1)) ?? [],
                        month: try $0.decode(String.self, column: 2)
                    )
                }
                let found = Set(events.map(\.position)), expected = Set(sealed)
                for event in events where !expected.contains(event.position) { report.record(.eventOutsideSeal(position: event.position, seal: seal)) }
                if seal <= retired {
                    // Its events went with their months: the chain stands as the cut recorded it.
                    if let recorded = retiredChains[seal], recorded != Hex.encode(storedChain) {
                        report.record(.anchorMismatch(seal: seal, recorded: recorded, found: Hex.encode(storedChain)))
                    }
                    // Only events of a month being taken out may still be here.
                    for event in events where expected.contains(event.position) && !cutMonths.contains(event.month) {
                        report.record(.keptEventInRetiredSeal(position: event.position, seal: seal))
                    }
                    report.retiredSeals += 1
                } else {
                    let hashes = Dictionary(events.map { ($0.position, $0.hash) }, uniquingKeysWith: { first, _ in first })
                    let missing = sealed.filter { !found.contains($0) && dropped[$0] == nil }
                    for position in missing { report.record(.sealedEventMissing(position: position, seal: seal)) }
                    if missing.isEmpty {
                        var hasher = SHA256()
                        hasher.update(data: chain)
                        for position in sealed { hasher.update(data: hashes[position] ?? dropped[position] ?? []) }
                        if Array(hasher.finalize()) != storedChain || events.map(\.position) != sealed.filter(found.contains) {
                            report.record(.sealMismatch(seal: seal))
                        }
                    }
                }
                if let recorded = anchored.removeValue(forKey: seal), recorded != Hex.encode(storedChain) {
                    report.record(.anchorMismatch(seal: seal, recorded: recorded, found: Hex.encode(storedChain)))
                }
                report.seals += 1
                report.sealedEvents += sealed.count
                report.head = ChainVerification.Head(seal: seal, chain: Hex.encode(storedChain))
                chain = storedChain
                from = to
                lastSeal = seal
            }
        }
        for seal in anchored.keys.sorted() { report.record(.anchorMissing(seal: seal)) }
        let unsealed = try session.prepared(
            """
            SELECT count(*), min(recorded_at) FROM ledger.events
             WHERE (transaction_id, global_position) > (\(from.transactionID)::xid8, \(from.position))
            """
        )
        report.unsealedEvents = try unsealed.decode(Int.self, row: 0, column: 0)
        report.oldestUnsealedAt = try unsealed.decode(Date?.self, row: 0, column: 1)
    }
}

/// What `EventStore.verifyChains` found.
public struct ChainVerification: Sendable {
    public enum Finding: Sendable, Hashable, CustomStringConvertible {
        /// The event's stored values no longer give its stored hash: the row was changed.
        case hashMismatch(position: Int64, stream: String, version: Int)
        /// A stream lacks these versions before the event at `before`: rows were deleted.
        case versionsMissing(stream: String, versions: ClosedRange<Int>, before: Int64)
        /// A sealed event is not in the store: it was deleted.
        case sealedEventMissing(position: Int64, seal: Int64)
        /// An event sits in a sealed part of the store's order that its seal does not hold: it
        /// was inserted there afterwards.
        case eventOutsideSeal(position: Int64, seal: Int64)
        /// The seal's chain does not follow from its events' hashes: a row was rewritten with a
        /// recomputed hash, or the seal was.
        case sealMismatch(seal: Int64)
        /// The seal's chain is not the one recorded outside the database: the history up to it
        /// was rewritten, seals and all.
        case anchorMismatch(seal: Int64, recorded: String, found: String)
        /// A seal recorded outside the database is gone.
        case anchorMissing(seal: Int64)
        /// An event of a month kept sits in a seal that a retention cut declared all gone.
        case keptEventInRetiredSeal(position: Int64, seal: Int64)
        /// A retention cut's tables do not say what its RetentionCut event recorded, or the event is gone.
        case retentionRecordMismatch(month: String, what: String)

        public var description: String {
            switch self {
            case .hashMismatch(let position, let stream, let version):
                "event \(position) (\(stream) version \(version)) does not match its hash: its stored values were changed"
            case .versionsMissing(let stream, let versions, let before):
                versions.count == 1
                    ? "\(stream) version \(versions.lowerBound) is missing (before event \(before)): it was deleted"
                    : "\(stream) versions \(versions.lowerBound)–\(versions.upperBound) are missing (before event \(before)): they were deleted"
            case .sealedEventMissing(let position, let seal):
                "event \(position), sealed in seal \(seal), is missing: it was deleted"
            case .eventOutsideSeal(let position, let seal):
                "event \(position) is in the part of the store seal \(seal) covers but not in the seal: it was inserted afterwards"
            case .sealMismatch(let seal):
                "seal \(seal) does not follow from its events' hashes: an event was rewritten with a new hash, or the seal was"
            case .anchorMismatch(let seal, let recorded, let found):
                "seal \(seal) has chain \(found), not the \(recorded) recorded: the history up to it was rewritten, seals and all"
            case .anchorMissing(let seal):
                "seal \(seal), recorded outside the database, is gone: the seals were rewritten"
            case .keptEventInRetiredSeal(let position, let seal):
                "event \(position) of a month kept is in seal \(seal), which a retention cut declared gone: the cut's anchor was changed"
            case .retentionRecordMismatch(let month, let what):
                "the retention cut of \(month) \(what): the retention tables were changed"
            }
        }
    }

    /// The newest seal: record its chain outside the database to prove later that nothing
    /// before it changed.
    public struct Head: Sendable, Equatable {
        public var seal: Int64
        public var chain: String

        public var text: String { "\(seal):\(chain)" }
    }

    public var events = 0
    public var seals = 0
    public var sealedEvents = 0
    /// Seals whose events all went with their months under retention (db/0020).
    public var retiredSeals = 0
    /// Events after the newest seal (covered by their streams' chains only, until sealed).
    public var unsealedEvents = 0
    /// When the oldest of them was recorded: a store whose sealing stalled shows here.
    public var oldestUnsealedAt: Date?
    public var head: Head?
    public var findings: [Finding] = []
    public var findingCount = 0
    public var seconds = 0.0

    /// The most findings kept (all are counted).
    let findingLimit: Int

    init(findingLimit: Int) {
        self.findingLimit = findingLimit
    }

    mutating func record(_ finding: Finding) {
        findingCount += 1
        if findings.count < findingLimit { findings.append(finding) }
    }

    public var isIntact: Bool { findingCount == 0 }
    public var eventsPerSecond: Double { seconds > 0 ? Double(events) / seconds : 0 }
}

extension ChainVerification.Head {
    /// `SEAL:CHAIN`, as `verify` prints the head and takes `--anchor`; nil unless the chain is 64
    /// hexadecimal digits.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let seal = Int64(parts[0]), seal > 0, parts[1].utf8.count == 64,
            let chain = Hex.decode(parts[1].lowercased())
        else { return nil }
        self.init(seal: seal, chain: Hex.encode(chain))
    }
}
