import ArgumentParser
import CLISupport
import EventStore
import Foundation
import Ledger
import Postgres
import SeededRandom
import Synchronization

/// `error-ledger-bench`: measurements, not tests, in a binary of their own (not in the
/// production one). Each prints one JSON line of figures for the `deploy/bench-*` scripts to
/// collect into medians.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "error-ledger-bench",
        abstract: "Benchmarks of the ledger (the deploy/bench-* scripts run them, with their baselines beside).",
        subcommands: [
            BenchAppend.self, BenchReplay.self, BenchGenerate.self, BenchQueries.self, BenchRebuild.self, BenchReadModels.self,
            BenchProjectionLag.self,
        ]
    )
}

/// An Error event's data as ingestion writes it, so the row shape matches production.
let benchEventData = #"{"session_id":"SESSION","evse_id":"DE*A36*E0002*1","operator_id":"DE*A36","notification_type":"Error","occurred_at":null,"received_at":"2026-11-27T10:00:00.000Z","error_type":"CriticalError","anomalies":[],"notification":{"Type":"Error","SessionID":"SESSION","CPOPartnerSessionID":"cpo-tx-2024-05-14-000502","Identification":{"RemoteIdentification":{"EvcoID":"DE-8EO-CAet5e4XY-3"}},"EvseID":"DE*A36*E0002*1","ErrorType":"CriticalError","ErrorAdditionalInfo":"Ground fault detected (RCD tripped) 4 min after charging start; station requires on-site inspection","OperatorID":"DE*A36"}}"#
let benchEventMetadata = #"{"received_at":"2026-11-27T10:00:00.000Z","client":"bench","source":"bench","schema_version":1}"#

/// `benchEventData` for `session`, joined from its parts: Foundation's `replacingOccurrences` and
/// `UUID()` (which opens `/dev/urandom` each time) were a fifth of the benchmark's own CPU, taken
/// from the database it measures on a small machine.
let benchEventDataParts = benchEventData.components(separatedBy: "SESSION")
func benchEventData(session: String) -> String { benchEventDataParts.joined(separator: session) }

/// A random (version 4) UUID from the system's generator: one `getrandom`, no file opened.
func benchRandomUUID(_ generator: inout SystemRandomNumberGenerator) -> UUID {
    let high = (generator.next() as UInt64) & 0xFFFF_FFFF_FFFF_0FFF | 0x0000_0000_0000_4000
    let low = (generator.next() as UInt64) & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000
    let h = withUnsafeBytes(of: high.bigEndian) { Array($0) }, l = withUnsafeBytes(of: low.bigEndian) { Array($0) }
    return UUID(uuid: (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]))
}

struct BenchAppend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Concurrent appenders, one event per append (a new session each), through group commit."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Concurrent appenders.") var appenders: Int = 1
    @Option(help: "Seconds to run.") var seconds: Double = 5
    @Option(name: .customLong("commit-lanes"), help: "Group-commit connections.") var lanes: Int = 2

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let store = try await EventStore.open(configuration: .init(url: try database.url(), poolSize: 2, commitLanes: lanes), logger: logger)
        defer { store.close() }
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let clock = ContinuousClock()
        let before = store.groupCommitStatistics
        let started = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<appenders {
                group.addTask {
                    var mine: [Double] = []
                    var random = SystemRandomNumberGenerator()
                    while clock.now < deadline {
                        let session = benchRandomUUID(&random).lowercasedString
                        let event = NewEvent(
                            id: benchRandomUUID(&random), type: "ChargingErrorReported", data: benchEventData(session: session), metadata: benchEventMetadata)
                        let t0 = clock.now
                        let result = try await store.append(to: StreamName.session(session), expected: .noStream, events: [event])
                        guard case .appended = result else { throw ValidationError("unexpected \(result)") }
                        mine.append((clock.now - t0).milliseconds)
                    }
                    return mine
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all.sorted()
        }
        let elapsed = (clock.now - started).milliseconds / 1000
        let after = store.groupCommitStatistics
        let batches = after.batches - before.batches
        print(
            #"{"bench":"append","appenders":\#(appenders),"appends":\#(latencies.count),"per_second":\#(Int(Double(latencies.count) / elapsed)),"#
                + #""p50_ms":\#(format(percentile(latencies, 0.5))),"p99_ms":\#(format(percentile(latencies, 0.99))),"#
                + #""mean_batch":\#(format(Double(after.appends - before.appends) / Double(max(1, batches))))}"#
        )
    }
}

struct BenchReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay", abstract: "Read the whole store through gap-safe readAll.")

    @OptionGroup var database: DatabaseOptions
    @Option(name: .customLong("page-size"), help: "Events per read.") var pageSize: Int = 10_000

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let store = try await EventStore.open(configuration: .init(url: try database.url(), poolSize: 2, commitLanes: 1), logger: logger)
        defer { store.close() }
        let clock = ContinuousClock()
        let started = clock.now
        var count = 0
        var bytes = 0
        // EventStore.replay fetches the next page while this one is decoded and counted.
        try await store.replay(after: .start, pageSize: pageSize) { events in
            count += events.count
            for event in events { bytes += event.data.utf8.count }
        }
        let elapsed = (clock.now - started).milliseconds / 1000
        print(#"{"bench":"replay","events":\#(count),"seconds":\#(format(elapsed)),"per_second":\#(Int(Double(count) / elapsed)),"data_mb":\#(bytes / 1_000_000)}"#)
    }
}

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write N valid notifications as NDJSON: sessions of Start, Progress, End, with about a third Errors."
    )

    @Option(help: "Notifications to write.") var count: Int = 1_000_000
    @Option(help: "EVSEs to spread sessions over.") var evses: Int = 10_000
    @Option(help: "Seed, for the same file every time.") var seed: UInt64 = 42
    @Option(
        help: """
            store: 5–6 notifications per session, 27% Errors (the event store benchmarks); \
            timelines: 5 per session, a third Errors (1M notifications = 200,000 sessions; the projection benchmarks).
            """
    ) var shape: Shape = .store

    enum Shape: String, ExpressibleByArgument { case store, timelines }

    func run() throws {
        var random = SplitMix64(seed: seed)
        let out = FileHandle.standardOutput
        var buffer = ""
        buffer.reserveCapacity(1 << 20)
        var written = 0
        var sessionNumber = 0
        while written < count {
            sessionNumber += 1
            let session = String(format: "%08x-%04x-4%03x-a%03x-%012llx", UInt32(truncatingIfNeeded: random.next()), UInt16(truncatingIfNeeded: random.next()), UInt16(truncatingIfNeeded: random.next()) & 0xFFF, UInt16(truncatingIfNeeded: random.next()) & 0xFFF, random.next() & 0xFFFF_FFFF_FFFF)
            let evse = "DE*A36*E\(Int(random.next() % UInt64(evses)))*1"
            let startMinute = Int(random.next() % 500_000)
            func time(_ minute: Int) -> String {
                let date = Date(timeIntervalSince1970: 1_700_000_000 + Double(minute) * 60)
                return rfc3339(date).replacingOccurrences(of: ".000Z", with: "+01:00")
            }
            let start = time(startMinute)
            var lines = [
                #"{"Type":"Start","SessionID":"\#(session)","EvseID":"\#(evse)","ChargingStart":"\#(start)","MeterValueStart":1000.5,"OperatorID":"DE*A36","PartnerProductID":"AC3"}"#,
                #"{"Type":"Progress","SessionID":"\#(session)","EvseID":"\#(evse)","ChargingStart":"\#(start)","EventOccurred":"\#(time(startMinute + 15))","ChargingDuration":900000,"ConsumedEnergyProgress":2.75,"OperatorID":"DE*A36"}"#,
                #"{"Type":"Error","SessionID":"\#(session)","EvseID":"\#(evse)","ErrorType":"\#(random.next() % 2 == 0 ? "ConnectorError" : "CriticalError")","ErrorAdditionalInfo":"generated fault \#(sessionNumber)","OperatorID":"DE*A36"}"#,
                #"{"Type":"Progress","SessionID":"\#(session)","EvseID":"\#(evse)","ChargingStart":"\#(start)","EventOccurred":"\#(time(startMinute + 30))","ChargingDuration":1800000,"OperatorID":"DE*A36"}"#,
                #"{"Type":"End","SessionID":"\#(session)","EvseID":"\#(evse)","ChargingStart":"\#(start)","ChargingEnd":"\#(time(startMinute + 45))","ConsumedEnergy":8.25,"MeterValueStart":1000.5,"MeterValueEnd":1008.75,"OperatorID":"DE*A36"}"#,
            ]
            switch shape {
            case .store:
                // Some sessions have two Errors.
                if random.next() % 2 == 0 {
                    lines.insert(#"{"Type":"Error","SessionID":"\#(session)","EvseID":"\#(evse)","ErrorType":"ConnectorError","OperatorID":"DE*A36"}"#, at: 1)
                }
            case .timelines:
                // Two sessions in three: Start, Error, Progress, Error, End (the second Progress
                // gives way to an Error); the rest keep one Error. A third of all notifications.
                if random.next() % 3 != 0 {
                    lines[3] = #"{"Type":"Error","SessionID":"\#(session)","EvseID":"\#(evse)","ErrorType":"ConnectorError","OperatorID":"DE*A36"}"#
                    lines.swapAt(1, 2)
                }
            }
            for line in lines where written < count {
                buffer += line
                buffer += "\n"
                written += 1
            }
            if buffer.utf8.count > 1 << 20 {
                out.write(Data(buffer.utf8))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        out.write(Data(buffer.utf8))
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func format(_ value: Double) -> String { String(format: "%.3f", value) }

extension Duration {
    var milliseconds: Double { self / .milliseconds(1) }
}

struct BenchQueries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queries",
        abstract: "Run N small queries (with parameters, rows, a server error every 100th) and print RSS: a leak check."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Queries to run.") var count: Int = 100_000

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let pool = PostgresPool(configuration: .init(url: try database.url(), maxConnections: 4), logger: logger)
        defer { pool.close() }
        _ = try await pool.query("SELECT 1")
        let before = residentKilobytes()
        var samples: [Int] = []
        for i in 1...count {
            if i % 100 == 0 {
                _ = try? await pool.query("SELECT 1/0")  // the error path must free its result too
            } else {
                let result = try await pool.query("SELECT \(i)::bigint AS n, repeat('x', 200) AS s, now()")
                _ = try result.decode(Int64.self, row: 0, column: 0)
            }
            if i % (count / 10) == 0 { samples.append(residentKilobytes()) }
        }
        print(#"{"bench":"queries","count":\#(count),"rss_kb_before":\#(before),"rss_kb_samples":\#(samples),"rss_kb_after":\#(residentKilobytes())}"#)
    }
}

/// VmRSS from /proc/self/status, in kB.
func residentKilobytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
    }
    return -1
}
