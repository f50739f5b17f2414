public import EventStore
import Foundation
public import HTTPServer
import JSON
import Logging
public import Projections

/// The probes and metrics of a process that runs the projector alone (`projections run
/// --admin-address`): `/healthz`, `/readyz` (the database answers) and `/metrics` with the
/// build, the database, the oldest open transaction, the projections' lag, this projector's
/// role and progress, and the process's own figures.
public final class ProjectorOperations: Sendable {
    private let router: Router

    public init(store: EventStore, projector: Projector, version: String) {
        let projections = projector.projections
        let lags = RecentValue { [store] in try await ProjectionLag.read(projections, store: store) }
        let oldestOpenTransaction = RecentValue { [store] in
            try await store.oldestOpenTransactionAge().map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
        }
        var router = Router(problem: { status, message in APIProblem(status: status, code: status == 404 ? "not_found" : "bad_request", message: message).response })
        router.add("GET", "/healthz") { _, _ in .json(200, #"{"status":"ok"}"#) }
        router.add("GET", "/readyz") { [lags] _, _ in
            (try? await lags.get()) == nil ? .json(503, #"{"status":"not_ready","database":"unreachable"}"#) : .json(200, #"{"status":"ready","database":"ok"}"#)
        }
        let figures = Figures(store: store, projector: projector, version: version, lags: lags, oldestOpenTransaction: oldestOpenTransaction)
        router.add("GET", "/metrics") { _, _ in await figures.metrics() }
        self.router = router
    }

    public var handler: HTTPHandler {
        { [router] request in await router.respond(to: request) }
    }

}

/// What `/metrics` reads, captured by its route.
private struct Figures: Sendable {
    let store: EventStore
    let projector: Projector
    let version: String
    let lags: RecentValue<[ProjectionLag]>
    let oldestOpenTransaction: RecentValue<Double>

    func metrics() async -> HTTPResponse {
        var out = Exposition()
        out.family("ledger_build_info", "gauge", "Always 1; the labels say which build runs.")
        out.sample("ledger_build_info", [("version", version)], "1")
        let lags = try? await lags.get()
        out.single("ledger_database_up", "gauge", "1 when the database answered the last read of these figures, else 0.", lags == nil ? 0 : 1)
        if let age = try? await oldestOpenTransaction.get() {
            out.single("ledger_oldest_open_transaction_seconds", "gauge", "Age of the oldest transaction holding an xid in the cluster (0 when none).", age)
        }
        ProjectorFigures(status: projector.status).render(into: &out)
        if let lags { ProjectorFigures.render(lags, into: &out) }
        ProcessFigures.read().render(into: &out)
        return HTTPResponse(
            status: 200, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]), body: .bytes(Array(out.text.utf8))
        )
    }
}

/// A projector's role and progress, and the projections' lag, as `/metrics` shows them.
struct ProjectorFigures {
    let status: Projector.Status

    func render(into out: inout Exposition) {
        out.single("ledger_projector_active", "gauge", "1 while this process's projector holds the projections' locks.", status.role == .active ? 1 : 0)
        out.single("ledger_projector_events_applied_total", "counter", "Events this process's projector applied since it started.", status.eventsApplied)
    }

    static func render(_ lags: [ProjectionLag], into out: inout Exposition) {
        out.family("ledger_projection_pending_events", "gauge", "Events stored and not yet applied, by projection.")
        for lag in lags { out.sample("ledger_projection_pending_events", [("projection", lag.projection)], String(lag.pendingEvents)) }
        out.family("ledger_projection_lag_seconds", "gauge", "Age of the oldest event not yet applied (0 when caught up), by projection.")
        for lag in lags { out.sample("ledger_projection_lag_seconds", [("projection", lag.projection)], String(lag.oldestPendingAge ?? 0)) }
    }
}
