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
        var router = Router(problem: { status, message in APIProblem(status: status, code: status == 404 ? "not_found" : "bad_request", message: message).response })
        router.add("GET", "/healthz") { _, _ in .json(200, #"{"status":"ok"}"#) }
        router.add("GET", "/readyz") { [lags] _, _ in
            (try? await lags.get()) == nil ? .json(503, #"{"status":"not_ready","database":"unreachable"}"#) : .json(200, #"{"status":"ready","database":"ok"}"#)
        }
        let figures = Figures(projector: projector, lags: lags, instance: InstanceFigures(store: store, version: version))
        router.add("GET", "/metrics") { _, _ in await figures.metrics() }
        self.router = router
    }

    public var handler: HTTPHandler {
        { [router] request in await router.respond(to: request) }
    }

}

/// What `/metrics` reads, captured by its route.
private struct Figures: Sendable {
    let projector: Projector
    let lags: RecentValue<[ProjectionLag]>
    let instance: InstanceFigures

    func metrics() async -> HTTPResponse {
        var out = Exposition()
        let lags = try? await lags.get()
        await instance.render(databaseAnswered: lags != nil, into: &out)
        ProjectorFigures(status: projector.status).render(into: &out)
        if let lags { ProjectorFigures.render(lags, into: &out) }
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
