public import Foundation
import JSON
public import Ledger
import OICP
import Postgres

/// What the ingestor, the forwarder and the status reports ask of stored events by key: every
/// such read of `ledger.events` is here. The `data` and `metadata` keys they name are Ledger's
/// (`RecordedNotification.Key`, `EventMetadataKey`).
extension EventStore {
    /// The events stored under these ids, each with its `metadata.content_digest` (nil inside
    /// when it has none).
    public func contentDigests(ofEventIDs ids: [UUID]) async throws -> [UUID: String?] {
        guard !ids.isEmpty else { return [:] }
        let query: PostgresQuery = """
            SELECT i.event_id::text, e.digest
              FROM unnest(\(ids.map(\.lowercasedString))::uuid[]) AS u(id)
             CROSS JOIN LATERAL (SELECT i.event_id, i.global_position, i.stream_month FROM ledger.event_ids i WHERE i.event_id = u.id OFFSET 0) AS i
             CROSS JOIN LATERAL (SELECT e.metadata->>\(EventMetadataKey.contentDigest) AS digest FROM ledger.events e
                                  WHERE e.global_position = i.global_position AND e.stream_month = i.stream_month OFFSET 0) AS e
            """
        return try await pool.run { session in
            var found: [UUID: String?] = [:]
            for row in try session.query(query).rows {
                found[try row.decode(UUID.self, column: 0)] = .some(try row.decode(String?.self, column: 1))
            }
            return found
        }
    }

    /// `metadata.content_digest` of the events at these positions (those that have one).
    public func contentDigests(atPositions positions: [Int64]) async throws -> [Int64: String] {
        guard !positions.isEmpty else { return [:] }
        let query: PostgresQuery = """
            SELECT global_position, metadata->>\(EventMetadataKey.contentDigest)
              FROM ledger.events WHERE global_position = ANY (\(positions.map(String.init))::bigint[])
            """
        return try await pool.run { session in
            var digests: [Int64: String] = [:]
            for row in try session.query(query).rows {
                if let digest = try row.decode(String?.self, column: 1) { digests[try row.decode(Int64.self, column: 0)] = digest }
            }
            return digests
        }
    }

    /// The events at these positions, in no particular order (missing ones are left out).
    public func events(atPositions positions: [Int64]) async throws -> [RecordedEvent] {
        guard !positions.isEmpty else { return [] }
        let query: PostgresQuery = """
            SELECT \(unsafeRaw: Self.eventColumns) FROM ledger.events WHERE global_position = ANY (\(positions.map(String.init))::bigint[])
            """
        return try await pool.run { session in try Self.decodeEvents(session.query(query)) }
    }

    /// The lifecycle of each named session stream that exists, in one query: its version,
    /// whether it started and ended, its owner (the first event's EVSE and operator), and its
    /// recent Errors recorded without an idempotency key (newest `recentErrorLimit`).
    public func sessionLifecycles(_ streams: [String]) async throws -> [String: SessionLifecycle] {
        guard !streams.isEmpty else { return [:] }
        // One index probe per stream. Written as `stream_id = ANY (…) GROUP BY`, the planner turns
        // to a (parallel) scan of the whole table once it is large, and every batch of an import
        // would then cost more than the last. Owner and recent Errors come by the
        // (stream_id, stream_version) key too. A stream that does not exist (ledger.streams, db/0020)
        // costs no probe of the store; one that does, a probe of its month's partition only. The
        // stream's row is looked up per name (OFFSET 0 keeps it a lateral probe: as a join, the
        // planner hashes the whole streams table once it is large, for every batch).
        let query: PostgresQuery = """
            SELECT s.stream, m.version, m.started, m.ended, f.evse_id, f.operator_id, r.errors
              FROM unnest(\(streams)::text[]) AS s(stream)
             CROSS JOIN LATERAL (SELECT h.stream_month FROM ledger.streams AS h WHERE h.stream_id = s.stream OFFSET 0) AS h
             CROSS JOIN LATERAL (
                    SELECT max(e.stream_version) AS version,
                           bool_or(e.event_type = \(LedgerEventType.chargingStarted.rawValue)) AS started,
                           bool_or(e.event_type = \(LedgerEventType.chargingEnded.rawValue)) AS ended
                      FROM ledger.events AS e
                     WHERE e.stream_id = s.stream AND e.stream_month = h.stream_month
                   ) AS m
              LEFT JOIN LATERAL (
                    SELECT e.data->>\(RecordedNotification.Key.evseID) AS evse_id, e.data->>\(RecordedNotification.Key.operatorID) AS operator_id
                      FROM ledger.events AS e
                     WHERE e.stream_id = s.stream AND e.stream_month = h.stream_month
                     ORDER BY e.stream_version
                     LIMIT 1
                   ) AS f ON true
              LEFT JOIN LATERAL (
                    SELECT jsonb_agg(jsonb_build_array(x.digest, x.received_at, x.position, x.version, x.tx) ORDER BY x.version) AS errors
                      FROM (SELECT e.metadata->>\(EventMetadataKey.contentDigest) AS digest, e.metadata->>\(EventMetadataKey.receivedAt) AS received_at,
                                   e.global_position AS position, e.stream_version AS version, e.transaction_id::text AS tx
                              FROM ledger.events AS e
                             WHERE e.stream_id = s.stream AND e.stream_month = h.stream_month AND e.event_type = \(LedgerEventType.chargingErrorReported.rawValue)
                               AND NOT e.metadata ? \(EventMetadataKey.idempotencyKey)
                             ORDER BY e.stream_version DESC
                             LIMIT \(SessionLifecycle.recentErrorLimit)) AS x
                   ) AS r ON true
             WHERE m.version IS NOT NULL
            """
        return try await pool.run { session in
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
        guard let json, let value = try? JSONParser.parse(json.utf8, maxDepth: 4, maxBytes: 1 << 20), let rows = value.arrayValue else { return [] }
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

    /// Events stored after `cursor` (in the gap-safe order, committed; some may wait behind an
    /// open transaction), and how long ago the oldest of them was recorded: a follower's lag.
    public func pendingEvents(after cursor: ReadCursor) async throws -> (count: Int64, oldestAge: Double?) {
        let query: PostgresQuery = """
            SELECT count(*), extract(epoch FROM now() - min(recorded_at))::float8
              FROM ledger.events WHERE (transaction_id, global_position) > (\(cursor.transactionID)::xid8, \(cursor.position))
            """
        return try await pool.run { session in
            let result = try session.query(query)
            return (try result.decode(Int64.self, row: 0, column: 0), try result.decode(Double?.self, row: 0, column: 1))
        }
    }
}
