public import EventStore
public import Forwarding
public import HTTPServer
public import Ingestion
import Ledger
public import Logging
import OICP
import Postgres
public import Projections

/// The ledger's REST API: OICP ingest at Hubject's path, the `/v1` read endpoints, the live
/// feed, health and metrics. `handler` answers requests for `HTTPServer.Server`.
///
/// ```swift
/// let api = LedgerAPI(store: store, ingestor: Ingestor(store: store))
/// let server = Server(configuration: .init(port: 8080), handler: api.handler)
/// ```
///
/// Handlers run on the server's loop thread and never block it: every database call goes
/// through the pool, whose connections run on threads of their own.
public final class LedgerAPI: Sendable {
    /// API settings.
    ///
    /// | key | default | |
    /// | --- | --- | --- |
    /// | `heartbeat` | 15 s | live feed: a comment line after this much silence |
    /// | `tokenCacheTTL` | 5 s | a verified token is trusted this long (and a revocation takes this long) |
    /// | `metricsOnMainListener` | true | false: `/metrics` is served by `adminHandler` only (a separate admin address) |
    /// | `accessLog` | true | one `info` line per request on the `access` logger |
    /// | `version` | `dev` | the build, for `ledger_build_info` |
    public struct Configuration: Sendable {
        public var heartbeat: Duration
        public var tokenCacheTTL: Duration
        public var metricsOnMainListener: Bool
        public var accessLog: Bool
        public var version: String

        public init(
            heartbeat: Duration = .seconds(15), tokenCacheTTL: Duration = .seconds(5),
            metricsOnMainListener: Bool = true, accessLog: Bool = true, version: String = "dev"
        ) {
            self.heartbeat = heartbeat
            self.tokenCacheTTL = tokenCacheTTL
            self.metricsOnMainListener = metricsOnMainListener
            self.accessLog = accessLog
            self.version = version
        }
    }

    /// Hubject's own path for `eRoamingChargingNotifications` V1.1 (REFERENCE §1.1).
    public static let ingestPath = "/api/oicp/notificationmgmt/v11/charging-notifications"

    public let configuration: Configuration
    public var metrics: APIMetrics { endpoints.metrics }
    let endpoints: Endpoints
    private let router: Router
    private let accessLog: AccessLog
    private let adminRouter: Router

    /// - Parameter forwarder: this process's forwarder, if it runs one (for `/readyz`,
    ///   `/metrics` and the delivery summary).
    public init(
        store: EventStore, ingestor: Ingestor, forwarder: Forwarder? = nil, projector: Projector? = nil, configuration: Configuration = .init(),
        logger: Logger = Logger(label: "api")
    ) {
        self.configuration = configuration
        let endpoints = Endpoints(
            store: store, ingestor: ingestor, forwarder: forwarder, projector: projector, configuration: configuration, logger: logger
        )
        self.endpoints = endpoints
        self.accessLog = AccessLog(logger: configuration.accessLog ? Logger(label: "access") : nil)
        let metrics = endpoints.metrics
        let unmatched: @Sendable (Int, String) -> HTTPResponse = { status, message in
            metrics.observe(route: "unmatched", method: "-", status: status, seconds: 0)
            let code = status == 404 ? "not_found" : status == 405 ? "method_not_allowed" : "bad_request"
            return APIProblem(status: status, code: code, message: message).response
        }
        var router = Router(problem: unmatched)
        Self.addRoutes(to: &router, endpoints) { route in configuration.metricsOnMainListener || route.pattern != "/metrics" }
        self.router = router
        var adminRouter = Router(problem: unmatched)
        Self.addRoutes(to: &adminRouter, endpoints) { route in Self.operationsPaths.contains(route.pattern) }
        self.adminRouter = adminRouter
    }

    /// The routes an admin listener serves: probes and metrics, no ledger data.
    static let operationsPaths: Set<String> = ["/healthz", "/readyz", "/metrics"]

    /// Ends live feeds, so a graceful shutdown does not wait for them.
    public func stop() {
        endpoints.liveFeed.stop()
    }

    /// Open live-feed responses.
    public var liveFeedSubscribers: Int { endpoints.liveFeed.subscriberCount }

    /// Answers one request.
    public var handler: HTTPHandler {
        { [router, accessLog] request in await Self.respond(to: request, with: router, accessLog) }
    }

    /// For `HTTPServerConfiguration.onRefusal`: the access-log line of an answer the HTTP server
    /// gave itself.
    public var refusalLog: @Sendable (HTTPServerConfiguration.Refusal) -> Void {
        { [accessLog] refusal in accessLog.refusal(refusal) }
    }

    /// Answers `/healthz`, `/readyz` and `/metrics` only: for a listener on an address only
    /// operators and the scraper reach (`LEDGER_ADMIN_ADDRESS`).
    public var adminHandler: HTTPHandler {
        { [adminRouter, accessLog] request in await Self.respond(to: request, with: adminRouter, accessLog) }
    }

    /// Answers through `router` with the request's id echoed (`X-Request-ID`) and one access-log line.
    private static func respond(to request: HTTPRequest, with router: Router, _ accessLog: AccessLog) async -> HTTPResponse {
        let started = ContinuousClock.now
        let record = RequestRecord(request)
        // The handler's statements wait for the database on its event loop's epoll, where it
        // runs on one (`PostgresPool.prepared`).
        let readiness = SocketReadiness.current.map(LoopReadiness.init)
        var response = await RequestRecord.$current.withValue(record) {
            await PostgresPool.$readiness.withValue(readiness) { await router.respond(to: request) }
        }
        response.headers.append(name: "X-Request-ID", value: record.id)
        accessLog.record(request, record, response, elapsed: ContinuousClock.now - started)
        return response
    }

    // MARK: - Routes

    /// A route's work; throws `APIProblem` to answer one.
    typealias Endpoint = @Sendable (Endpoints, HTTPRequest, RouteMatch) async throws -> HTTPResponse

    /// Every route. `openapi/openapi.yaml` describes each; the conformance test checks both ways.
    static let routes: [(method: String, pattern: String, endpoint: Endpoint)] = [
        ("POST", ingestPath, { endpoints, request, match in try await endpoints.ingest(request, match) }),
        ("GET", "/v1/sessions/{sessionID}", { endpoints, request, match in try await endpoints.session(request, match) }),
        ("GET", "/v1/sessions/{sessionID}/timeline", { endpoints, request, match in try await endpoints.sessionTimeline(request, match) }),
        ("GET", "/v1/evses/{evseID}/errors", { endpoints, request, match in try await endpoints.evseErrors(request, match) }),
        ("GET", "/v1/evses/{evseID}/summary", { endpoints, request, match in try await endpoints.evseSummary(request, match) }),
        ("GET", "/v1/errors", { endpoints, request, match in try await endpoints.errors(request, match) }),
        ("GET", "/v1/errors/top-evses", { endpoints, request, match in try await endpoints.topEvses(request, match) }),
        ("GET", "/v1/errors/stream", { endpoints, request, match in try await endpoints.errorStream(request, match) }),
        ("GET", "/v1/evses/{evseID}/reliability", { endpoints, request, match in try await endpoints.evseReliability(request, match) }),
        ("GET", "/v1/statistics/series", { endpoints, request, match in try await endpoints.statisticsSeries(request, match) }),
        ("GET", "/v1/statistics/rankings", { endpoints, request, match in try await endpoints.statisticsRankings(request, match) }),
        ("GET", "/v1/statistics/messages", { endpoints, request, match in try await endpoints.statisticsMessages(request, match) }),
        ("GET", "/v1/deliveries", { endpoints, request, match in try await endpoints.deliveries(request, match) }),
        // Before `{id}`: the first matching route answers.
        ("GET", "/v1/deliveries/summary", { endpoints, request, match in try await endpoints.deliverySummary(request, match) }),
        ("GET", "/v1/deliveries/{id}", { endpoints, request, match in try await endpoints.delivery(request, match) }),
        ("POST", "/v1/deliveries/{id}/retry", { endpoints, request, match in try await endpoints.retryDelivery(request, match) }),
        ("POST", "/v1/admin/erasures", { endpoints, request, match in try await endpoints.erase(request, match) }),
        ("GET", "/ui", { endpoints, _, match in try endpoints.uiAsset(match) }),
        ("GET", "/ui/app.js", { endpoints, _, match in try endpoints.uiAsset(match) }),
        ("GET", "/ui/app.css", { endpoints, _, match in try endpoints.uiAsset(match) }),
        ("GET", "/healthz", { endpoints, _, match in try endpoints.healthz(match) }),
        ("GET", "/readyz", { endpoints, _, match in try await endpoints.readyz(match) }),
        ("GET", "/metrics", { endpoints, _, match in try await endpoints.metricsText(match) }),
    ]

    /// Every route's method and path pattern (the OpenAPI conformance test compares them with the spec).
    public static var routeTable: [(method: String, pattern: String)] { routes.map { ($0.method, $0.pattern) } }

    private static func addRoutes(
        to router: inout Router, _ endpoints: Endpoints, where included: (_ route: (method: String, pattern: String, endpoint: Endpoint)) -> Bool
    ) {
        for route in routes where included(route) {
            router.add(route.method, route.pattern) { request, match in await endpoints.run(route.endpoint, request, match) }
        }
    }
}

/// The forwarding backlog as `/metrics` shows it.
struct DeliveryBacklogFigures: Sendable {
    var open: Int
    var oldestAge: Double?
    var notTakenIn: Int64
    var oldestNotTakenInAge: Double?
}

/// What the endpoints share: the store, the queries, authentication, metrics, the live feed.
final class Endpoints: Sendable {
    let configuration: LedgerAPI.Configuration
    let metrics = APIMetrics()
    let store: EventStore
    let ingestor: Ingestor
    let queries: TimelineQueries
    let deliveryQueries: DeliveryQueries
    let forwarder: Forwarder?
    /// This process's projector, if it runs one (for `/metrics`).
    let projector: Projector?
    let authenticator: Authenticator
    let liveFeed: LiveFeed
    let logger: Logger
    /// `/readyz` and `/metrics` figures, read at most once a second whoever asks.
    let projectionLags: RecentValue<[ProjectionLag]>
    let deliveryBacklog: RecentValue<DeliveryBacklogFigures>
    /// The build, the database, the oldest open transaction, the process.
    let instance: InstanceFigures

    init(store: EventStore, ingestor: Ingestor, forwarder: Forwarder?, projector: Projector?, configuration: LedgerAPI.Configuration, logger: Logger) {
        self.projector = projector
        self.configuration = configuration
        self.store = store
        self.ingestor = ingestor
        self.queries = TimelineQueries(store: store)
        self.deliveryQueries = DeliveryQueries(store: store)
        self.forwarder = forwarder
        self.authenticator = Authenticator(tokens: TokenStore(pool: store.pool), ttl: configuration.tokenCacheTTL)
        self.liveFeed = LiveFeed(store: store, heartbeat: configuration.heartbeat)
        self.logger = logger
        self.projectionLags = RecentValue { [store] in try await ProjectionLag.read(TimelineProjection.all, store: store) }
        self.instance = InstanceFigures(store: store, version: configuration.version)
        self.deliveryBacklog = RecentValue { [deliveryQueries] in
            let backlog = try await deliveryQueries.backlog()
            return DeliveryBacklogFigures(
                open: backlog.open, oldestAge: backlog.oldestAge, notTakenIn: backlog.notTakenIn, oldestNotTakenInAge: backlog.oldestNotTakenInAge
            )
        }
    }

    /// Runs an endpoint: turns thrown problems and database failures into responses and
    /// records the route's metrics.
    func run(_ endpoint: LedgerAPI.Endpoint, _ request: HTTPRequest, _ match: RouteMatch) async -> HTTPResponse {
        let started = ContinuousClock.now
        RequestRecord.current?.route = match.pattern
        var response: HTTPResponse
        do {
            response = try await endpoint(self, request, match)
        } catch let problem as APIProblem {
            response = problem.response
        } catch let error as QueryError {
            response = APIProblem.invalid("cursor", error.description).response
        } catch let error as PostgresError where error.sqlState?.hasPrefix("22") == true {
            // SQLSTATE class 22 (data exception): a value from the request that PostgreSQL cannot
            // take. The endpoints check their input first, so this is a gap in a check: the
            // client's fault all the same, not a reason to send it again.
            logger.warning(
                "request input reached the database and was refused", metadata: LogMetadata.error(error, ["route": "\(match.pattern)"])
            )
            response = APIProblem(status: 400, code: "invalid_parameter", message: "a value in the request is out of the range the ledger stores").response
        } catch {
            logger.error("request failed", metadata: LogMetadata.error(error, ["route": "\(match.pattern)"]))
            response = APIProblem.unavailable("the database did not answer; nothing was changed, try again").response
        }
        let elapsed = ContinuousClock.now - started
        metrics.observe(route: match.pattern, method: request.head.method, status: response.status, seconds: elapsed / .seconds(1))
        return response
    }
}

/// An event loop's socket readiness, as the database pool waits on it.
private struct LoopReadiness: PostgresReadiness {
    let loop: SocketReadiness

    func wait(for socket: Int32, writable: Bool) async throws { try await loop.wait(for: socket, writable: writable) }
}
