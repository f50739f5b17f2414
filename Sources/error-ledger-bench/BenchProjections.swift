import ArgumentParser
import CLISupport
import EventStore
import Foundation
import Ingestion
import Ledger
import Postgres
import Projections
import SeededRandom
import Synchronization

/// Rebuild of every projection from the whole store; one JSON line.
struct BenchRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rebuild", abstract: "Rebuild all projections from one replay and swap them in.")

    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Leave the statistics rollups empty, to measure what filling them adds (run a rebuild with them after).")
    var withoutStatistics = false

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let url = try database.url()
        let store = try await EventStore.open(configuration: .init(url: url, poolSize: 3, commitLanes: 1), logger: logger)
        defer { store.close() }
        var rebuilder = ProjectionRebuilder(store: store, url: url, logger: logger)
        rebuilder.fillsStatistics = !withoutStatistics
        let report = try await rebuilder.rebuild(TimelineProjection.all)
        let seconds = report.total.milliseconds / 1000
        print(
            #"{"bench":"rebuild","events":\#(report.events),"sessions":\#(report.sessions),"evses":\#(report.evses),"#
                + #""seconds":\#(format(seconds)),"replay_seconds":\#(format(report.replay.milliseconds / 1000)),"#
                + #""per_second":\#(Int(Double(report.events) / seconds))}"#
        )
    }
}

/// Read-model queries against the same questions asked of the raw events table.
///
/// The raw queries are what a user without projections would write over the events table, with
/// an index on (EvseID, time) and one on time. They run on a copy of the events in a schema of
/// the benchmark's own (`bench_raw.events`, made through the store's replay): the benchmark
/// creates nothing on the ledger's tables.
struct BenchReadModels: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-models",
        abstract: "Queries/s and p50/p99 of the timeline queries and of hand-written SQL over a copy of the events, per reader count."
    )

    enum Kind: String, CaseIterable, ExpressibleByArgument {
        case evseTimeline = "evse_timeline", sessionTimeline = "session_timeline", evseSummary = "evse_summary", fleetFeed = "fleet_feed"
    }

    enum Source: String, CaseIterable, ExpressibleByArgument { case projection, raw }

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Concurrent readers.") var readers: Int = 4
    @Option(help: "Seconds per query kind and source.") var seconds: Double = 5
    @Option(help: "Query kinds (default: all).") var kind: [Kind] = Kind.allCases
    @Option(help: "Sources (default: both).") var source: [Source] = Source.allCases

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let store = try await EventStore.open(configuration: .init(url: try database.url(), poolSize: readers, commitLanes: 1), logger: logger)
        defer { store.close() }
        let queries = TimelineQueries(store: store)
        if source.contains(.raw) { try await Self.copyEvents(of: store) }
        let evses = try await store.pool.run { session in
            try session.query("SELECT evse_id FROM projection_evse_errors.evse_summary ORDER BY random() LIMIT 2000").rows.map { try $0.decode(String.self, column: 0) }
        }
        let sessions = try await store.pool.run { session in
            try session.query("SELECT session_id FROM projection_sessions.sessions TABLESAMPLE SYSTEM (5) LIMIT 2000").rows.map { try $0.decode(String.self, column: 0) }
        }
        guard !evses.isEmpty, !sessions.isEmpty else { throw ValidationError("the read models are empty: import and rebuild first") }

        for kind in kind {
            for source in source {
                let query: @Sendable (Int) async throws -> Int = { n in
                    let evse = evses[n % evses.count]
                    let sessionID = sessions[n % sessions.count]
                    switch (kind, source) {
                    case (.evseTimeline, .projection): return try await queries.evseErrors(evse, limit: 100).items.count
                    case (.sessionTimeline, .projection): return try await queries.sessionTimeline(sessionID, limit: 1000).items.count
                    case (.evseSummary, .projection): return try await queries.evseSummary(evse) == nil ? 0 : 1
                    case (.fleetFeed, .projection): return try await queries.errors(limit: 100).items.count
                    case (_, .raw):
                        // Prepared and decoded like the read-model queries: the same client work.
                        return try await store.pool.run { session in
                            let result = try session.prepared(Self.raw(kind, evse: evse, session: sessionID))
                            var fields = 0
                            for row in result.rows {
                                for column in 0..<result.columnCount where try row.decode(String?.self, column: column) != nil { fields += 1 }
                            }
                            return fields
                        }
                    }
                }
                let (count, latencies, elapsed) = try await Self.measure(readers: readers, seconds: seconds, query)
                print(
                    #"{"bench":"read_model","kind":"\#(kind.rawValue)","source":"\#(source.rawValue)","readers":\#(readers),"#
                        + #""queries":\#(count),"per_second":\#(Int(Double(count) / elapsed)),"#
                        + #""p50_ms":\#(format(percentile(latencies, 0.5))),"p99_ms":\#(format(percentile(latencies, 0.99)))}"#
                )
            }
        }
    }

    /// Copies every event into `bench_raw.events` (once: an existing copy is kept as long as
    /// the store has nothing newer), with the indexes a user without projections would add.
    static func copyEvents(of store: EventStore) async throws {
        let head = try await store.headPosition() ?? 0
        let copied = try await store.pool.run { session in
            try session.query("SELECT to_regclass('bench_raw.events') IS NOT NULL").decode(Bool.self, row: 0, column: 0)
                ? try session.query("SELECT coalesce(max(global_position), 0) FROM bench_raw.events").decode(Int64.self, row: 0, column: 0) : -1
        }
        guard copied != head else { return }
        try await store.pool.run { session in
            try session.execute(
                unsafeSQL: """
                    DROP SCHEMA IF EXISTS bench_raw CASCADE;
                    CREATE SCHEMA bench_raw;
                    CREATE TABLE bench_raw.events (
                        global_position bigint, stream_id text, stream_version integer, event_id uuid, event_type text, data jsonb,
                        recorded_at timestamptz)
                    """
            )
        }
        try await store.replay(after: .start) { page in
            _ = try await store.pool.run { session in
                try session.copyIn(
                    "COPY bench_raw.events (global_position, stream_id, stream_version, event_id, event_type, data, recorded_at) FROM STDIN"
                ) { writer in
                    for event in page {
                        try writer.writeRow([
                            String(event.globalPosition), event.streamID, String(event.streamVersion), event.eventID.uuidString, event.eventType,
                            event.data, rfc3339(event.recordedAt),
                        ])
                    }
                }
            }
        }
        try await store.pool.run { session in
            try session.execute(
                unsafeSQL: """
                    CREATE INDEX ON bench_raw.events (stream_id, stream_version);
                    CREATE INDEX ON bench_raw.events ((data->>'evse_id'), recorded_at);
                    CREATE INDEX ON bench_raw.events (recorded_at);
                    ANALYZE bench_raw.events
                    """
            )
        }
    }

    /// The same questions over the raw events, as a user without projections would ask them,
    /// returning the same fields the read models return (the session timeline returns the
    /// notification where the read model returns its extracted details).
    static func raw(_ kind: Kind, evse: String, session: String) -> PostgresQuery {
        switch kind {
        case .evseTimeline:
            """
            SELECT global_position, event_id, recorded_at, data->>'evse_id', data->>'operator_id', data->>'error_type',
                   data->'notification'->>'ErrorAdditionalInfo', data->>'session_id', stream_version
              FROM bench_raw.events
             WHERE data->>'evse_id' = \(evse) AND event_type = 'ChargingErrorReported'
             ORDER BY recorded_at DESC LIMIT 100
            """
        case .sessionTimeline:
            """
            SELECT stream_version, global_position, event_id, event_type, data->>'notification_type', data->>'evse_id', recorded_at,
                   data->>'occurred_at', data->>'error_type', data->'notification'->>'ErrorAdditionalInfo', data->'anomalies', data->'notification'
              FROM bench_raw.events WHERE stream_id = \("session-" + session) ORDER BY stream_version
            """
        case .evseSummary:
            """
            SELECT count(DISTINCT stream_id), count(DISTINCT stream_id) FILTER (WHERE event_type = 'ChargingErrorReported'),
                   count(*) FILTER (WHERE event_type = 'ChargingErrorReported' AND data->>'error_type' = 'ConnectorError'),
                   count(*) FILTER (WHERE event_type = 'ChargingErrorReported' AND data->>'error_type' = 'CriticalError'),
                   count(*) FILTER (WHERE event_type = 'ChargingErrorReported' AND recorded_at > now() - interval '24 hours'),
                   count(*) FILTER (WHERE event_type = 'ChargingErrorReported' AND recorded_at > now() - interval '7 days'),
                   count(*) FILTER (WHERE event_type = 'ChargingErrorReported' AND recorded_at > now() - interval '30 days'),
                   min(recorded_at) FILTER (WHERE event_type = 'ChargingErrorReported'),
                   max(recorded_at) FILTER (WHERE event_type = 'ChargingErrorReported')
              FROM bench_raw.events WHERE data->>'evse_id' = \(evse)
            """
        case .fleetFeed:
            """
            SELECT global_position, event_id, recorded_at, data->>'evse_id', data->>'operator_id', data->>'error_type',
                   data->'notification'->>'ErrorAdditionalInfo', data->>'session_id', stream_version
              FROM bench_raw.events WHERE event_type = 'ChargingErrorReported'
             ORDER BY recorded_at DESC LIMIT 100
            """
        }
    }

    /// Runs `query` from `readers` tasks for `seconds`; latencies in ms, sorted.
    static func measure(readers: Int, seconds: Double, _ query: @escaping @Sendable (Int) async throws -> Int) async throws
        -> (count: Int, latencies: [Double], elapsed: Double)
    {
        let clock = ContinuousClock()
        // A short warm-up, not measured.
        for n in 0..<min(50, readers * 10) { _ = try await query(n) }
        let started = clock.now
        let deadline = started + .milliseconds(Int(seconds * 1000))
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for reader in 0..<readers {
                group.addTask {
                    var mine: [Double] = []
                    var n = reader * 7919
                    while clock.now < deadline {
                        let t0 = clock.now
                        _ = try await query(n)
                        mine.append((clock.now - t0).milliseconds)
                        n += 1
                    }
                    return mine
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all.sorted()
        }
        return (latencies.count, latencies, (clock.now - started).milliseconds / 1000)
    }
}

/// Projection lag while notifications are ingested at a steady rate: from the start of each
/// append until the `evse_errors` projection's checkpoint has passed the event (it is then in the
/// EVSE timeline). A projector must be running (`error-ledger projections run`).
struct BenchProjectionLag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projection-lag",
        abstract: "Ingest Errors at --rate per second and measure append-to-visible lag of the EVSE error timeline."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Notifications per second.") var rate: Int = 2000
    @Option(help: "Seconds to run.") var seconds: Double = 10
    @Option(help: "EVSEs to spread them over.") var evses: Int = 10_000
    @Option(help: "A file to write each event's acknowledgement (ms since the start) and lag (ms) to, a line each: is the lag steady or in bursts?")
    var trace: String?

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let url = try database.url()
        let store = try await EventStore.open(configuration: .init(url: url, poolSize: 4, commitLanes: 2), logger: logger)
        defer { store.close() }
        let ingestor = Ingestor(store: store, logger: logger)
        let clock = ContinuousClock()
        let state = LagState()
        let total = Int(Double(rate) * seconds)

        // The watcher: reads the checkpoint every millisecond and settles what it passed.
        // The watcher runs on a thread of its own with a blocking connection, so that the
        // appenders crowding the cooperative pool cannot delay what it sees.
        let watcherConnection = try PostgresConnection.connectBlocking(url, applicationName: "bench lag watcher")
        let watcherDone = DispatchSemaphore(value: 0)
        let started = clock.now
        let watcher = Thread {
            defer { watcherDone.signal() }
            while true {
                guard
                    let checkpoint = try? watcherConnection.runBlocking({ session in
                        let result = try session.query("SELECT transaction_id, position FROM projection_evse_errors.checkpoint")
                        return ReadCursor(
                            transactionID: UInt64(try result.decode(Int64.self, row: 0, column: 0)), position: try result.decode(row: 0, column: 1)
                        )
                    })
                else { return }
                let now = clock.now
                let settled = state.pending.withLock { list -> [(Double, Double)] in
                    var lagging: [LagState.Pending] = []
                    var settled: [(Double, Double)] = []
                    for entry in list {
                        if entry.cursor <= checkpoint {
                            settled.append(((now - entry.acknowledged).milliseconds, (now - entry.started).milliseconds))
                        } else {
                            lagging.append(entry)
                        }
                    }
                    list = lagging
                    return settled
                }
                state.lags.withLock { $0 += settled.map(\.0) }
                state.trace.withLock { $0 += settled.map { ((now - started).milliseconds - $0.0, $0.0) } }
                state.endToEnd.withLock { $0 += settled.map(\.1) }
                if state.done.withLock({ $0 }), state.pending.withLock({ $0.isEmpty }) { return }
                usleep(1000)
            }
        }
        watcher.start()

        let workers = 32
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var n = worker
                    var random = SplitMix64(seed: UInt64(worker) &* 7919 &+ UInt64(Date().timeIntervalSince1970))
                    while n < total {
                        try await Task.sleep(until: started + .microseconds(Int64(n) * 1_000_000 / Int64(rate)), clock: clock)
                        let session = UUID().uuidString.lowercased()
                        let evse = "DE*A36*E\(Int(random.next() % UInt64(evses)))*1"
                        let body = #"{"Type":"Error","SessionID":"\#(session)","EvseID":"\#(evse)","ErrorType":"CriticalError","ErrorAdditionalInfo":"lag probe","OperatorID":"DE*A36"}"#
                        let t0 = clock.now
                        let outcome = try await ingestor.ingest(
                            Array(body.utf8), context: IngestContext(receivedAt: Date(), client: "bench", source: "bench")
                        )
                        guard case .appended(let range) = outcome.disposition else { throw ValidationError("not appended: \(outcome.disposition)") }
                        let acknowledged = clock.now
                        state.appends.withLock { $0.append((acknowledged - t0).milliseconds) }
                        state.pending.withLock {
                            $0.append((ReadCursor(transactionID: range.transactionID, position: range.lastPosition), t0, acknowledged))
                        }
                        n += workers
                    }
                }
            }
            try await group.waitForAll()
        }
        let ingestSeconds = (clock.now - started).milliseconds / 1000
        state.done.withLock { $0 = true }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                watcherDone.wait()
                continuation.resume()
            }
        }
        if let trace {
            let lines = state.trace.withLock { $0.sorted { $0.0 < $1.0 }.map { "\(Int($0.0)) \(format($0.1))" } }
            try (lines.joined(separator: "\n") + "\n").write(toFile: trace, atomically: true, encoding: .utf8)
        }
        let sorted = state.lags.withLock { $0.sorted() }
        let endToEnd = state.endToEnd.withLock { $0.sorted() }
        let appends = state.appends.withLock { $0.sorted() }
        print(
            #"{"bench":"projection_lag","rate":\#(rate),"achieved_per_second":\#(Int(Double(total) / ingestSeconds)),"events":\#(sorted.count),"#
                + #""p50_ms":\#(format(percentile(sorted, 0.5))),"p99_ms":\#(format(percentile(sorted, 0.99))),"max_ms":\#(format(sorted.last ?? 0)),"#
                + #""append_p50_ms":\#(format(percentile(appends, 0.5))),"append_p99_ms":\#(format(percentile(appends, 0.99))),"#
                + #""end_to_end_p50_ms":\#(format(percentile(endToEnd, 0.5))),"end_to_end_p99_ms":\#(format(percentile(endToEnd, 0.99)))}"#
        )
    }
}

/// What the lag benchmark's appenders and watcher share.
private final class LagState: Sendable {
    typealias Pending = (cursor: ReadCursor, started: ContinuousClock.Instant, acknowledged: ContinuousClock.Instant)
    /// Appended events not yet seen past the checkpoint, with when their append started and was acknowledged.
    let pending = Mutex<[Pending]>([])
    /// Settled lags from acknowledgement, and from the start of the append, ms.
    let lags = Mutex<[Double]>([])
    let endToEnd = Mutex<[Double]>([])
    /// Append latencies, ms.
    let appends = Mutex<[Double]>([])
    let done = Mutex(false)
    /// (acknowledged, ms since the start; lag, ms) of each settled event, for `--trace`.
    let trace = Mutex<[(Double, Double)]>([])
}
