import EventStore
import Foundation
import Postgres
import TestSupport

/// A store on a fresh migrated database.
func makeStore(lanes: Int = 2, maxBatch: Int = 256) async throws -> (EventStore, String) {
    let url = try await TestDatabase.create()
    let store = try await EventStore.open(configuration: .init(url: url, poolSize: 8, commitLanes: lanes, maxBatch: maxBatch))
    return (store, url)
}

func event(_ type: String = "ChargingErrorReported", id: UUID = UUID(), data: String = #"{"n":1}"#) -> NewEvent {
    NewEvent(id: id, type: type, data: data, metadata: #"{"source":"test"}"#)
}

func newStream() -> String { "session-" + UUID().uuidString.lowercased() }

func count(_ url: String, _ sql: PostgresQuery = "SELECT count(*) FROM ledger.events") async throws -> Int {
    let connection = try await PostgresConnection.connect(url)
    return try await connection.run { try $0.query(sql).decode(Int.self, row: 0, column: 0) }
}

/// Reads the global order from `cursor` until `count` events came back or `timeout` passed.
///
/// The readers' horizon is cluster-wide: any transaction open anywhere in the cluster (other
/// tests run in parallel, in other databases) holds it back for as long as it stays open. An
/// event committed a moment ago is therefore visible *eventually*, never necessarily at once.
func readAll(_ store: EventStore, after cursor: ReadCursor, count: Int, timeout: Duration = .seconds(30)) async throws -> [RecordedEvent] {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    var events: [RecordedEvent] = []
    var next = cursor
    while events.count < count, clock.now < deadline {
        let page = try await store.readAll(after: next, limit: 1000)
        events += page.events
        next = page.next
        if page.events.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
    }
    return events
}
