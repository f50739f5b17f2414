public import Foundation
import JSON
public import Ledger
import Postgres

/// The keys that seal identifications, and their erasure (db/0019). The tables are the store's:
/// an erasure deletes keys and appends its event in one transaction.
extension EventStore {
    /// The database's own pepper (db/0019), for when `LEDGER_IDENTIFICATION_PEPPER` is not set.
    public func storedIdentificationPepper() async throws -> [UInt8] {
        try await pool.run { session in
            let rows = try session.query("SELECT encode(pepper, 'hex') FROM ledger.identification_pepper").rows
            guard let row = rows.first, let pepper = Hex.decode(try row.decode(String.self, column: 0)) else {
                throw PostgresError(code: .server, message: "ledger.identification_pepper is empty; run `error-ledger migrate`")
            }
            return pepper
        }
    }

    /// The key of each identification, by primary subject: the stored one, or `candidate`
    /// stored now when it has none. Every subject is linked to its identification's key, so
    /// erasing any of them deletes it. One statement for the whole set.
    public func identificationKeys(
        for identifications: [(subjects: IdentificationSubjects, candidate: IdentificationKey)]
    ) async throws -> [[UInt8]: IdentificationKey] {
        guard !identifications.isEmpty else { return [:] }
        var primaries: [String] = [], candidateIDs: [String] = [], candidateKeys: [String] = []
        var linkPrimaries: [String] = [], linkSubjects: [String] = []
        var seen = Set<[UInt8]>()
        var linked = Set<[[UInt8]]>()
        for (subjects, candidate) in identifications {
            // One candidate key per identification; every subject pair, also of its later
            // notifications (the same card with an EVCO-ID the first one did not carry).
            if seen.insert(subjects.primary).inserted {
                primaries.append(Self.byteaLiteral(subjects.primary))
                candidateIDs.append(candidate.id.uuidString)
                candidateKeys.append(Self.byteaLiteral(candidate.bytes))
            }
            for subject in subjects.all where linked.insert([subjects.primary, subject]).inserted {
                linkPrimaries.append(Self.byteaLiteral(subjects.primary))
                linkSubjects.append(Self.byteaLiteral(subject))
            }
        }
        let query: PostgresQuery = """
            SELECT encode(primary_subject, 'hex'), key_id, encode(key, 'hex')
              FROM ledger.identification_keys_for(\(primaries)::bytea[], \(candidateIDs)::uuid[], \(candidateKeys)::bytea[],
                                                   \(linkPrimaries)::bytea[], \(linkSubjects)::bytea[])
            """
        return try await pool.run { session in
            var keys: [[UInt8]: IdentificationKey] = [:]
            for row in try session.query(query).rows {
                guard let primary = Hex.decode(try row.decode(String.self, column: 0)), let bytes = Hex.decode(try row.decode(String.self, column: 2)) else {
                    continue
                }
                keys[primary] = IdentificationKey(id: try row.decode(UUID.self, column: 1), bytes: bytes)
            }
            return keys
        }
    }

    /// Records `candidate` as the check value of the pepper in use unless one is recorded;
    /// returns the recorded one (db/0019).
    public func identificationPepperCheck(_ candidate: [UInt8]) async throws -> [UInt8] {
        let query: PostgresQuery = "SELECT encode(ledger.identification_pepper_check(\(Self.byteaLiteral(candidate))::bytea), 'hex')"
        return try await pool.run { session in Hex.decode(try session.query(query).decode(String.self, row: 0, column: 0)) ?? [] }
    }

    /// The keys with these ids that still exist (an erased identification's are gone).
    public func identificationKeys(ids: [UUID]) async throws -> [UUID: IdentificationKey] {
        guard !ids.isEmpty else { return [:] }
        let query: PostgresQuery = """
            SELECT key_id, encode(key, 'hex') FROM ledger.identification_keys WHERE key_id = ANY (\(ids.map(\.uuidString))::uuid[])
            """
        return try await pool.run { session in
            var keys: [UUID: IdentificationKey] = [:]
            for row in try session.query(query).rows {
                let id: UUID = try row.decode(column: 0)
                if let bytes = Hex.decode(try row.decode(String.self, column: 1)) { keys[id] = IdentificationKey(id: id, bytes: bytes) }
            }
            return keys
        }
    }

    /// Stores a refused notification's own key (no subject names it).
    public func storeRejectionKey(_ key: IdentificationKey) async throws {
        let query: PostgresQuery = "SELECT ledger.rejection_key(\(key.id.uuidString)::uuid, \(Self.byteaLiteral(key.bytes))::bytea)"
        _ = try await pool.run { session in try session.query(query) }
    }

    /// The refused notifications kept with a key that still exists, oldest first, a day of the
    /// quarantine at a time: each one's key and sealed bytes, for an erasure to open.
    public func sealedRejections(_ body: ([(key: IdentificationKey, box: String)]) async throws -> Void) async throws {
        let first: PostgresQuery = "SELECT min(created_at) FROM ledger.identification_keys WHERE rejection"
        guard let since = try await pool.run({ session in try session.query(first).decode(Date?.self, row: 0, column: 0) }) else { return }
        // A refusal is kept in the stream of the day it was received (UTC): from the day before
        // the oldest key was made to today.
        var day = since.addingTimeInterval(-86_400)
        while day <= Date().addingTimeInterval(86_400) {
            var version = 1
            while true {
                let events = try await readStream(StreamName.quarantine(day: day), fromVersion: version, limit: 1000)
                let sealed = events.compactMap { NotificationDecision.sealedRejection(ofData: $0.data) }
                let keys = try await identificationKeys(ids: sealed.map(\.keyID))
                let found = sealed.compactMap { item in keys[item.keyID].map { (key: $0, box: item.box) } }
                if !found.isEmpty { try await body(found) }
                guard events.count == 1000, let last = events.last else { break }
                version = last.streamVersion + 1
            }
            day = day.addingTimeInterval(86_400)
        }
    }

    /// Deletes every key `subject` was seen with, and the refused notifications' keys in
    /// `rejectionKeys`, and appends `event` (an `IdentificationErased`) to the stream `erasures-YYYY-MM` (one a month),
    /// in one transaction; the event's data gains `keys_deleted`.
    public func eraseIdentification(subject: [UInt8], rejectionKeys: [UUID], event: NewEvent) async throws -> (keysDeleted: Int, position: Int64) {
        let query: PostgresQuery = """
            SELECT keys_deleted, global_position
              FROM ledger.erase_identification(\(Self.byteaLiteral(subject))::bytea, \(rejectionKeys.map(\.uuidString))::uuid[],
                                               \(event.id.uuidString)::uuid, \(event.data)::jsonb, \(event.metadata)::jsonb)
            """
        let result = try await pool.run { session in
            try session.transaction {
                // The erasure and its record are one durable commit, whatever the session's default.
                try session.execute(unsafeSQL: "SET LOCAL synchronous_commit = on")
                return try session.query(query)
            }
        }
        let keys: Int = try result.decode(row: 0, column: 0)
        let position: Int64 = try result.decode(row: 0, column: 1)
        return (keys, position)
    }

    /// `\x…`: bytes as PostgreSQL's text form of `bytea` reads them, for parameters.
    static func byteaLiteral(_ bytes: [UInt8]) -> String { "\\x" + Hex.encode(bytes) }
}
