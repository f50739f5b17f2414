import EventStore
import Foundation
import HTTPServer
import OICP
import Postgres
import Projections

/// `/healthz`, `/readyz`, `/metrics`: no token needed (they show no ledger data); keep them on
/// a network only operators and probes reach.
extension Endpoints {
    private static let healthy = HTTPResponse.json(200, #"{"status":"ok"}"#)

    /// The process is up and its event loop answers.
    func healthz(_ match: RouteMatch) throws -> HTTPResponse {
        _ = try QueryParameters(match.target, allowed: [])
        return Self.healthy
    }

    /// Ready to serve: the database answers, and no projection's oldest pending event is older
    /// than `readyMaxLag` (so what the read endpoints show is current).
    func readyz(_ match: RouteMatch) async throws -> HTTPResponse {
        _ = try QueryParameters(match.target, allowed: [])
        let bound = Double(configuration.readyMaxLag.components.seconds)
        let lags: [ProjectionLag]
        do {
            lags = try await ProjectionLag.read(TimelineProjection.all, store: store)
        } catch {
            let body = JSONValue.object(
                JSONObject([
                    ("status", .string("not_ready")), ("database", .string("unreachable: \(error)")),
                    ("max_lag_s", .number(String(format: "%.0f", bound))), ("projections", .array([])),
                ])
            )
            return .json(503, body.serialized())
        }
        var ready = true
        let projections = lags.map { lag -> JSONValue in
            let current = (lag.oldestPendingAge ?? 0) <= bound
            ready = ready && current
            return .object(
                JSONObject([
                    ("name", .string(lag.projection)), ("pending_events", .number(String(lag.pendingEvents))),
                    ("oldest_pending_s", lag.oldestPendingAge.map { .number(String(format: "%.3f", $0)) } ?? .null),
                    ("projector_active", .bool(lag.projectorActive)), ("within_bound", .bool(current)),
                ])
            )
        }
        let body = JSONValue.object(
            JSONObject([
                ("status", .string(ready ? "ready" : "not_ready")), ("database", .string("ok")),
                ("max_lag_s", .number(String(format: "%.0f", bound))), ("projections", .array(projections)),
            ])
        )
        return .json(ready ? 200 : 503, body.serialized())
    }

    /// Prometheus text: what `APIMetrics` counted, and gauges read now.
    func metricsText(_ match: RouteMatch) async throws -> HTTPResponse {
        _ = try QueryParameters(match.target, allowed: [])
        var out = metrics.render()
        let commits = store.groupCommitStatistics
        out += "# HELP ledger_append_batches_total Group-commit transactions run by this process.\n"
        out += "# TYPE ledger_append_batches_total counter\nledger_append_batches_total \(commits.batches)\n"
        out += "# HELP ledger_append_requests_total Appends carried by those transactions (their ratio is the mean batch size).\n"
        out += "# TYPE ledger_append_requests_total counter\nledger_append_requests_total \(commits.appends)\n"
        let pool = store.pool.statistics
        out += "# HELP ledger_db_pool_connections Database connections of the API's pool, by state.\n"
        out += "# TYPE ledger_db_pool_connections gauge\n"
        out += "ledger_db_pool_connections{state=\"open\"} \(pool.open)\nledger_db_pool_connections{state=\"idle\"} \(pool.idle)\n"
        out += "# HELP ledger_db_pool_waiting Requests waiting for a pooled connection.\n"
        out += "# TYPE ledger_db_pool_waiting gauge\nledger_db_pool_waiting \(pool.waiting)\n"
        out += "# HELP ledger_db_pool_max_connections The pool's size.\n"
        out += "# TYPE ledger_db_pool_max_connections gauge\nledger_db_pool_max_connections \(store.pool.configuration.maxConnections)\n"
        out += "# HELP ledger_live_feed_subscribers Open /v1/errors/stream responses.\n"
        out += "# TYPE ledger_live_feed_subscribers gauge\nledger_live_feed_subscribers \(liveFeed.subscriberCount)\n"
        out += "# HELP ledger_ingest_quarantine_dropped_total Refused notifications counted but not stored (quarantine cap).\n"
        out += "# TYPE ledger_ingest_quarantine_dropped_total counter\nledger_ingest_quarantine_dropped_total \(ingestor.quarantineDroppedTotal)\n"
        if let lags = try? await ProjectionLag.read(TimelineProjection.all, store: store) {
            out += "# HELP ledger_projection_pending_events Events stored and not yet applied, by projection.\n"
            out += "# TYPE ledger_projection_pending_events gauge\n"
            for lag in lags { out += "ledger_projection_pending_events{projection=\"\(lag.projection)\"} \(lag.pendingEvents)\n" }
            out += "# HELP ledger_projection_lag_seconds Age of the oldest event not yet applied (0 when caught up), by projection.\n"
            out += "# TYPE ledger_projection_lag_seconds gauge\n"
            for lag in lags { out += "ledger_projection_lag_seconds{projection=\"\(lag.projection)\"} \(lag.oldestPendingAge ?? 0)\n" }
        }
        return HTTPResponse(
            status: 200, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]), body: .bytes(Array(out.utf8))
        )
    }
}
