import API
import ArgumentParser
import CLISupport
import EventStore
import Forwarding
import Foundation
import HTTPServer
import Ingestion
import Logging
import Postgres
import Projections
import ServiceLifecycle

/// `error-ledger serve`: the REST API on the project's HTTP server, with the projector embedded.
///
/// | flag | environment | default |
/// | --- | --- | --- |
/// | `--address` | `LEDGER_HTTP_ADDRESS` | `127.0.0.1:8080` |
/// | `--pool-size` | `LEDGER_DB_POOL_SIZE` | 16 |
/// | `--max-connections` | `LEDGER_HTTP_MAX_CONNECTIONS` | 10,000 |
/// | `--heartbeat` | `LEDGER_SSE_HEARTBEAT_SECONDS` | 15 |
/// | `--no-projector` | `LEDGER_PROJECTOR=off` | projector on |
/// | — | `LEDGER_ERROR_REPLAY_WINDOW_SECONDS` | 600 (0: every keyless Error is a new fact) |
/// | — | `LEDGER_DB_STATEMENT_TIMEOUT_SECONDS` | 30 (request and commit connections) |
/// | — | `LEDGER_DB_NETWORK_TIMEOUT_SECONDS` | 20 (keepalives, `tcp_user_timeout`) |
/// | — | `LEDGER_COMMIT_TIMEOUT_SECONDS` | 10 (then 503, outcome unknown) |
/// | — | `LEDGER_APPEND_QUEUE` | 4096 appends waiting for a commit (then 503) |
/// | — | `LEDGER_ADMIN_ADDRESS` | none (`/healthz`, `/readyz`, `/metrics` on the main address) |
/// | — | `LEDGER_HTTP_MAX_CONNECTIONS_PER_ADDRESS` | none |
/// | — | `LEDGER_HTTP_EVENT_LOOPS` | the number of cores |
/// | — | `LEDGER_HTTP_WRITE_TIMEOUT_SECONDS` | 30 |
/// | — | `LEDGER_INGEST_UNDIGESTED_REPLAYS` | off |
///
/// Forwarding to Hubject runs when `LEDGER_HUBJECT_URL` is set (with `LEDGER_HUBJECT_CLIENT_CERT`,
/// `LEDGER_HUBJECT_CLIENT_KEY`, `LEDGER_HUBJECT_CA_BUNDLE`), unless `LEDGER_FORWARDING=off`;
/// `LEDGER_FORWARD_TYPES` (default `Start,Progress,End,Error`), `LEDGER_FORWARD_PER_MINUTE`
/// (default 100; 0 for no limit) and `LEDGER_FORWARD_MAX_IN_FLIGHT` (default 16 notifications,
/// each on its own connection) tune it. Bad certificate files stop the start-up.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the REST API (OICP ingest, /v1 reads, live feed, health, metrics) until SIGINT/SIGTERM.",
        discussion: """
            Keeps the projections current as well (one active projector per projection across instances; \
            the others stand by), unless --no-projector. SIGTERM stops accepting, finishes the requests in \
            flight (live feeds end), closes, and exits 0.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "host:port to listen on, IPv4 (env LEDGER_HTTP_ADDRESS; default 127.0.0.1:8080).") var address: String?
    @Option(name: .customLong("pool-size"), help: "Database connections for requests (env LEDGER_DB_POOL_SIZE; default 16).")
    var poolSize: Int?
    @Option(name: .customLong("max-connections"), help: "Open client connections at most (env LEDGER_HTTP_MAX_CONNECTIONS; default 10000).")
    var maxConnections: Int?
    @Option(help: "Seconds of silence before a live feed sends a heartbeat (env LEDGER_SSE_HEARTBEAT_SECONDS; default 15).")
    var heartbeat: Int?
    @Flag(name: .customLong("no-projector"), help: "Do not run the projector here (env LEDGER_PROJECTOR=off).") var noProjector = false

    func run() async throws {
        limitMallocArenas()
        let logger = try database.bootstrapLogging(defaultLevel: .info)
        let url = try database.url()
        let (host, port) = try Self.parseAddress(address ?? environment["LEDGER_HTTP_ADDRESS"] ?? "127.0.0.1:8080")
        let pool = try environment.integer("LEDGER_DB_POOL_SIZE", flag: poolSize)
        let connections = try environment.integer("LEDGER_HTTP_MAX_CONNECTIONS", flag: maxConnections)
        let beat = try environment.integer("LEDGER_SSE_HEARTBEAT_SECONDS", flag: heartbeat)
        let projector = !(noProjector || environment["LEDGER_PROJECTOR"] == "off")
        let files = raiseOpenFileLimit()
        if files < UInt64(connections) + 64 {
            logger.warning("open-file limit is below --max-connections", metadata: ["limit": "\(files)", "max_connections": "\(connections)"])
        }

        let settings = SessionSettings(
            statementTimeout: .seconds(try environment.integer("LEDGER_DB_STATEMENT_TIMEOUT_SECONDS")),
            networkTimeout: .seconds(try environment.integer("LEDGER_DB_NETWORK_TIMEOUT_SECONDS"))
        )
        let store = try await EventStore.open(
            configuration: .init(
                url: url, poolSize: pool, commitLanes: 2, maxQueuedAppends: try environment.integer("LEDGER_APPEND_QUEUE"),
                commitTimeout: .seconds(try environment.integer("LEDGER_COMMIT_TIMEOUT_SECONDS")), settings: settings
            ), logger: logger)
        defer { store.close() }
        // The store's partitions for this month and the next three (db/0020); the active
        // projector sees to them every hour after.
        do { try await store.ensurePartitions() } catch {
            logger.warning("could not make the store's partitions ahead", metadata: LogMetadata.error(error))
        }
        // Before listening: bad certificate files stop the start-up, not the first send.
        let forwarderToRun = try forwarder(store: store, url: url, logger: logger)
        let ingest = try Ingestor.Configuration.fromEnvironment(environment)
        if ingest.identificationPepper == nil {
            logger.notice("LEDGER_IDENTIFICATION_PEPPER is not set: identifications are named by the database's own pepper, which its backups hold too")
        }
        let admin = try environment["LEDGER_ADMIN_ADDRESS"].map(Self.parseAddress)
        var projection = Projector.Configuration()
        projection.settings = SessionSettings(networkTimeout: settings.networkTimeout)
        let projectorToRun = projector ? Projector(store: store, configuration: projection, logger: logger) : nil
        let api = LedgerAPI(
            store: store, ingestor: Ingestor(store: store, configuration: ingest, logger: logger), forwarder: forwarderToRun, projector: projectorToRun,
            configuration: .init(
                heartbeat: .seconds(beat), metricsOnMainListener: admin == nil, accessLog: try environment.onOff("LEDGER_ACCESS_LOG", default: true),
                version: LedgerVersion.current
            ), logger: logger
        )
        var limits = HTTPLimits()
        // Twice the validator's 64 KiB cap, so a body between the two gets an OICP 022 answer (and is
        // quarantined) rather than a bare 413. Nothing else takes a body.
        limits.body = 131_072
        var serverConfiguration = HTTPServerConfiguration(host: host, port: port, limits: limits, maxConnections: connections)
        serverConfiguration.maxConnectionsPerAddress = try environment.optionalInteger("LEDGER_HTTP_MAX_CONNECTIONS_PER_ADDRESS")
        if let loops = try environment.optionalInteger("LEDGER_HTTP_EVENT_LOOPS") { serverConfiguration.eventLoops = loops }
        serverConfiguration.writeTimeout = .seconds(try environment.integer("LEDGER_HTTP_WRITE_TIMEOUT_SECONDS"))
        serverConfiguration.onRefusal = api.refusalLog
        let server = Server(configuration: serverConfiguration, logger: logger, handler: api.handler)
        let bound: Int
        do {
            bound = try server.start()
        } catch {
            throw InputError(description: "cannot listen on \(host):\(port): \(error)")
        }
        // Probes and metrics on an address of their own, when asked: /metrics then leaves the
        // main listener (probes stay on both, for load balancers that probe the service port).
        let adminServer: Server?
        do {
            adminServer = try admin.map { try Self.startAdmin(host: $0.0, port: $0.1, handler: api.adminHandler, logger: logger) }
        } catch {
            await server.shutdown()
            throw error
        }
        // Shut down in the reverse of this order: the main listener first (no new work, requests
        // in flight finish), then the probes' listener, then the forwarder (attempts in flight are
        // recorded) and the projector.
        var services: [any Service] = []
        if let projectorToRun {
            services.append(UntilShutdownService(description: "projector") { await projectorToRun.run() })
        }
        if let forwarderToRun { services.append(UntilShutdownService(description: "forwarder") { await forwarderToRun.run() }) }
        if let adminServer { services.append(HTTPServerService(description: "admin listener", server: adminServer)) }
        services.append(HTTPServerService(description: "listener", server: server) { [logger] in
            logger.info("stopping: finishing requests in flight")
            api.stop()
        })
        logger.info("serving", metadata: ["address": "\(host):\(bound)", "projector": "\(projector)"])
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        try await ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet)).run()
        logger.info("stopped")
        leaveProcess()
    }

    /// The forwarder the environment asks for, or nil when forwarding is off.
    private func forwarder(store: EventStore, url: String, logger: Logger) throws -> Forwarder? {
        guard let base = environment["LEDGER_HUBJECT_URL"], environment["LEDGER_FORWARDING"] != "off" else {
            logger.info("forwarding to Hubject is off (LEDGER_HUBJECT_URL is not set, or LEDGER_FORWARDING=off)")
            return nil
        }
        let inFlight = try environment.integer("LEDGER_FORWARD_MAX_IN_FLIGHT")
        let timeout = try environment.integer("LEDGER_FORWARD_TIMEOUT_SECONDS")
        let transport: HubjectTransport
        do {
            transport = try HubjectTransport(
                configuration: .init(
                    baseURL: base, clientCertificate: environment["LEDGER_HUBJECT_CLIENT_CERT"] ?? "",
                    clientKey: environment["LEDGER_HUBJECT_CLIENT_KEY"] ?? "", caBundle: environment["LEDGER_HUBJECT_CA_BUNDLE"] ?? "",
                    timeout: .seconds(timeout), connections: inFlight
                ),
                logger: logger
            )
        } catch {
            throw InputError(description: "forwarding: \(error)")
        }
        var configuration = Forwarder.Configuration(maxInFlight: inFlight)
        if let list = environment["LEDGER_FORWARD_TYPES"] {
            var types: Set<PendingNotification.Kind> = []
            for name in list.split(separator: ",") {
                guard let kind = PendingNotification.Kind(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("LEDGER_FORWARD_TYPES: \"\(name)\" is not Start, Progress, End or Error")
                }
                types.insert(kind)
            }
            configuration.types = types
        }
        configuration.retry.maxAttempts = try environment.integer("LEDGER_FORWARD_RETRY_ATTEMPTS")
        configuration.retry.maxAge = .seconds(try environment.integer("LEDGER_FORWARD_RETRY_MAX_AGE_SECONDS"))
        configuration.retry.cap = .seconds(try environment.integer("LEDGER_FORWARD_RETRY_CAP_SECONDS"))
        let perMinute = try environment.integer("LEDGER_FORWARD_PER_MINUTE")
        configuration.perMinute = perMinute == 0 ? nil : perMinute
        logger.info("forwarding to Hubject", metadata: ["url": "\(transport.configuration.notificationURL)", "per_minute": "\(perMinute)"])
        configuration.settings = SessionSettings(networkTimeout: store.pool.configuration.settings.networkTimeout)
        return Forwarder(store: store, url: url, transport: transport, configuration: configuration, logger: logger)
    }

    /// The listener for probes and metrics (`LEDGER_ADMIN_ADDRESS`).
    private static func startAdmin(host: String, port: Int, handler: @escaping HTTPHandler, logger: Logger) throws -> Server {
        let server = Server(configuration: HTTPServerConfiguration(host: host, port: port, maxConnections: 64, eventLoops: 1), logger: logger, handler: handler)
        do {
            let bound = try server.start()
            logger.info("serving probes and metrics", metadata: ["address": "\(host):\(bound)"])
            return server
        } catch {
            throw InputError(description: "cannot listen on \(host):\(port) (LEDGER_ADMIN_ADDRESS): \(error)")
        }
    }

    static func parseAddress(_ text: String) throws -> (String, Int) {
        do {
            return try LedgerSetting.parseAddress(text)
        } catch {
            throw ValidationError(error.description)
        }
    }

    private var environment: LedgerEnvironment { .current }

    /// Raises the soft open-file limit to the hard one (each client connection is a file).
    /// - Returns: the limit now in force.
    private func raiseOpenFileLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
