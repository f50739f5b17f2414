import EventStore
import Foundation
import Ingestion
import Ledger
import Postgres
@testable import Projections
import SeededRandom
import TestSupport
import Testing

/// A migrated database with a store and an ingestor on it.
struct TestLedger: Sendable {
    let url: String
    let store: EventStore
    let ingestor: Ingestor
    let queries: TimelineQueries

    static func make() async throws -> TestLedger {
        let url = try await TestDatabase.create()
        let store = try await EventStore.open(configuration: .init(url: url, poolSize: 6))
        // The scenarios here send the same Error more than once in a session as separate facts;
        // the keyless replay window (tested with the ingestor) would take them for retries.
        let ingestor = Ingestor(store: store, configuration: .init(errorReplayWindow: .zero))
        return TestLedger(url: url, store: store, ingestor: ingestor, queries: TimelineQueries(store: store))
    }

    /// Ingests one notification body; fails the test unless it was appended.
    @discardableResult
    func ingest(_ body: String, at date: Date = Date()) async throws -> AppendedRange {
        let outcome = try await ingestor.ingest(
            Array(body.utf8), context: IngestContext(receivedAt: date, client: "test", source: "test")
        )
        guard case .appended(let range) = outcome.disposition else {
            throw TestFailure("not appended: \(outcome.disposition) for \(body)")
        }
        return range
    }

    /// Runs a blocking statement on a connection of its own.
    func sql<T: Sendable>(_ body: @escaping @Sendable (PostgresSession) throws -> T) async throws -> T {
        let connection = try await PostgresConnection.connect(url)
        return try await connection.run(body)
    }

    /// Waits until `projection`'s checkpoint has passed every stored event.
    func waitUntilCaughtUp(_ projection: TimelineProjection, timeout: Duration = .seconds(30)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let lag = try await ProjectionLag.read([projection], store: store)[0]
            if lag.pendingEvents == 0 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("\(projection.name) did not catch up within \(timeout)")
    }

    /// Every row of every table of `schema`, ordered, as text: two schemas hold the same model
    /// exactly when their dumps are equal.
    func dump(_ projection: TimelineProjection, schema: String? = nil) async throws -> [String: [String]] {
        let schema = schema ?? projection.schema
        return try await sql { session in
            var tables: [String: [String]] = [:]
            for row in try session.query("SELECT tablename FROM pg_tables WHERE schemaname = \(schema)").rows {
                let table: String = try row.decode(column: 0)
                // An error count the projector moved from during_charging to abrupt_end stays as
                // a row of 0; a rebuild writes no such row. The sums are what must agree.
                let nonZero = table.hasSuffix("error_hours") || table.hasSuffix("error_days") ? " WHERE errors <> 0" : ""
                let rows = try session.query(
                    PostgresQuery(unsafeSQL: "SELECT t::text FROM \(schema).\(table) t\(nonZero) ORDER BY t::text")
                ).rows.map { try $0.decode(String.self, column: 0) }
                // The checkpoint's updated_at differs by nature; compare the rest.
                tables[table] = table == "checkpoint" ? rows.map { $0.components(separatedBy: ",").prefix(4).joined(separator: ",") } : rows
            }
            return tables
        }
    }

    func close() { store.close() }
}

/// Expects two dumps of a projection to hold the same rows, naming the first differences.
func expectSameModel(_ live: [String: [String]], _ rebuilt: [String: [String]], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(live.keys.sorted() == rebuilt.keys.sorted(), "\(what): tables differ", sourceLocation: sourceLocation)
    for table in live.keys.sorted() {
        let left = Set(live[table] ?? []), right = Set(rebuilt[table] ?? [])
        guard left != right || live[table]?.count != rebuilt[table]?.count else { continue }
        let onlyLive = left.subtracting(right).sorted().prefix(3), onlyRebuilt = right.subtracting(left).sorted().prefix(3)
        Issue.record(
            "\(what): \(table) differs (\(live[table]?.count ?? 0) vs \(rebuilt[table]?.count ?? 0) rows); only live: \(Array(onlyLive)); only rebuilt: \(Array(onlyRebuilt))",
            sourceLocation: sourceLocation
        )
    }
}


/// Runs `projector` in a task until the returned handle is cancelled.
func start(_ projector: Projector) -> Task<Void, Never> {
    Task { await projector.run() }
}

// MARK: - Notifications

extension NotificationBody {
    /// A random but valid session: Start, Progress (distinct minutes), Errors, End, some parts
    /// missing or out of order.
    static func randomSession(_ random: inout some RandomNumberGenerator, evses: Int) -> [String] {
        let session = newSession()
        let evse = "DE*A36*E\(Int.random(in: 1...evses, using: &random))*1"
        var bodies: [String] = []
        if Int.random(in: 0..<4, using: &random) > 0 { bodies.append(start(session, evse: evse)) }
        for minute in 1...Int.random(in: 1...4, using: &random) {
            if Bool.random(using: &random) {
                bodies.append(error(session, evse: evse, type: Bool.random(using: &random) ? "ConnectorError" : "CriticalError"))
            }
            if Bool.random(using: &random) { bodies.append(progress(session, evse: evse, minute: minute * 7)) }
        }
        if Int.random(in: 0..<3, using: &random) > 0 { bodies.append(end(session, evse: evse)) }
        if Int.random(in: 0..<5, using: &random) == 0 { bodies.append(error(session, evse: evse, type: "CriticalError", info: "after end")) }
        if Int.random(in: 0..<10, using: &random) == 0 { bodies.shuffle(using: &random) }
        return bodies.isEmpty ? [error(session, evse: evse)] : bodies
    }
}

/// Ingests `count` random sessions, a few concurrently, each session's notifications in order.
func ingestRandomSessions(_ ledger: TestLedger, count: Int, evses: Int = 12, seed: UInt64) async throws -> Int {
    var random = SplitMix64(seed: seed)
    let sessions = (0..<count).map { _ in NotificationBody.randomSession(&random, evses: evses) }
    try await withThrowingTaskGroup(of: Void.self) { group in
        for lane in 0..<4 {
            group.addTask {
                for (index, bodies) in sessions.enumerated() where index % 4 == lane {
                    for body in bodies { try await ledger.ingest(body) }
                }
            }
        }
        try await group.waitForAll()
    }
    return sessions.map(\.count).reduce(0, +)
}
