import API
import ArgumentParser
import CLISupport
import EventStore
import Foundation
import HTTPServer
import Logging
import Projections
import Synchronization

struct ProjectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract: "Run, inspect and rebuild the read models (\(TimelineProjection.all.map(\.name).joined(separator: ", "))).",
        subcommands: [Run.self, Status.self, Rebuild.self]
    )

    static func projections(named name: String?) throws -> [TimelineProjection] {
        guard let name else { return TimelineProjection.all }
        guard let projection = TimelineProjection.named(name) else {
            throw ValidationError("no projection \"\(name)\"; there are: \(TimelineProjection.all.map(\.name).joined(separator: ", "))")
        }
        return [projection]
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep the projections current until SIGINT/SIGTERM. Any number may run: one is active, the others stand by."
        )

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Only this projection.") var name: String?
        @Option(name: .customLong("poll-interval-ms"), help: "Read at least this often, NOTIFY or not.") var pollInterval: Int = 1000
        @Option(name: .customLong("batch-size"), help: "Events per transaction at most.") var batchSize: Int = 1000

        func run() async throws {
            let logger = try database.bootstrapLogging(defaultLevel: .info)
            let store = try await EventStore.open(configuration: .init(url: try database.url(), poolSize: 1, commitLanes: 1), logger: logger)
            defer { store.close() }
            let projector = Projector(
                projections: try ProjectionsCommand.projections(named: name), store: store,
                configuration: .init(batchSize: batchSize, pollInterval: .milliseconds(pollInterval)), logger: logger
            )
            // Probes and metrics, when asked for (a projector running on its own has no other listener).
            var admin: Server?
            if let address = LedgerEnvironment.current["LEDGER_ADMIN_ADDRESS"] {
                let (host, port) = try ServeCommand.parseAddress(address)
                let operations = ProjectorOperations(store: store, projector: projector, version: LedgerVersion.current)
                let server = Server(configuration: HTTPServerConfiguration(host: host, port: port, maxConnections: 64, eventLoops: 1), logger: logger, handler: operations.handler)
                do {
                    let bound = try server.start()
                    logger.info("serving probes and metrics", metadata: ["address": "\(host):\(bound)"])
                } catch {
                    throw InputError(description: "cannot listen on \(address) (LEDGER_ADMIN_ADDRESS): \(error)")
                }
                admin = server
            }
            let task = Task { await projector.run() }
            await untilTerminated()
            await admin?.shutdown()
            task.cancel()
            await task.value
            leaveProcess()
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per projection: checkpoint, events behind the head, whether a projector is active; and the oldest open transaction."
        )

        @OptionGroup var database: DatabaseOptions
        @Option(help: "table or json.") var format: OutputFormat = .table

        func run() async throws {
            let logger = try database.bootstrapLogging()
            let store = try await EventStore.open(configuration: .init(url: try database.url(), poolSize: 1, commitLanes: 1), logger: logger)
            defer { store.close() }
            let lags = try await ProjectionLag.read(TimelineProjection.all, store: store)
            let oldest = try await store.oldestOpenTransactionAge()
            let records = lags.map { LagRecord(lag: $0, oldestOpenTransaction: oldest) }
            print(format.render(records), terminator: "")
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay the whole store into fresh tables and swap them in atomically; progress on standard error."
        )

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Only this projection (default: all, from one replay).") var name: String?

        func run() async throws {
            let logger = try database.bootstrapLogging()
            let url = try database.url()
            let projections = try ProjectionsCommand.projections(named: name)
            let store = try await EventStore.open(configuration: .init(url: url, poolSize: 3, commitLanes: 1), logger: logger)
            defer { store.close() }
            let rebuilder = ProjectionRebuilder(store: store, url: url, logger: logger)
            let lastPrinted = ContinuousClock.now
            let printed = Synchronized(lastPrinted)
            let report = try await rebuilder.rebuild(projections) { progress in
                let now = ContinuousClock.now
                guard progress.phase != "replay" || printed.exchangeIfOlder(than: .seconds(1), now: now) else { return }
                let seconds = progress.elapsed / .seconds(1)
                let head = progress.headPosition.map { " of head \($0)" } ?? ""
                printError(
                    "\(progress.phase): \(progress.events) events, position \(progress.lastPosition)\(head), "
                        + "\(Int(Double(progress.events) / max(seconds, 0.001))) events/s"
                )
            }
            let seconds = report.total / .seconds(1)
            printError(
                "rebuilt \(report.projections.joined(separator: ", ")): \(report.events) events, \(report.sessions) sessions, "
                    + "\(report.evses) EVSEs in \(String(format: "%.1f", seconds)) s (\(Int(Double(report.events) / max(seconds, 0.001))) events/s)"
            )
        }
    }
}

/// A projection's lag as a printable row.
struct LagRecord: ReadModelRecord {
    var lag: ProjectionLag
    var oldestOpenTransaction: Duration?

    var fields: [(name: String, value: FieldValue)] {
        [
            ("projection", .string(lag.projection)), ("checkpoint", .string(lag.checkpoint.description)),
            ("events_applied", .integer(lag.eventsApplied)), ("head_position", lag.headPosition.map(FieldValue.integer) ?? .null),
            ("pending_events", .integer(lag.pendingEvents)),
            ("oldest_pending_s", lag.oldestPendingAge.map { .json(String(format: "%.3f", $0)) } ?? .null),
            ("projector_active", .bool(lag.projectorActive)), ("updated_at", .date(lag.updatedAt)),
            ("oldest_open_transaction_s", oldestOpenTransaction.map { .json(String(format: "%.3f", $0 / .seconds(1))) } ?? .null),
        ]
    }
}

/// A value shared with a `@Sendable` progress callback.
final class Synchronized: Sendable {
    private let last: Mutex<ContinuousClock.Instant>

    init(_ value: ContinuousClock.Instant) { last = Mutex(value) }

    /// True (and records `now`) when the last record is older than `interval`.
    func exchangeIfOlder(than interval: Duration, now: ContinuousClock.Instant) -> Bool {
        last.withLock { last in
            guard now - last >= interval else { return false }
            last = now
            return true
        }
    }
}
