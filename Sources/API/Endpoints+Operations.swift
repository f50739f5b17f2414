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
        var out = Exposition()
        metrics.render(into: &out)
        let commits = store.groupCommitStatistics
        out.family("ledger_append_batch_size", "histogram", "Appends per group-commit transaction run by this process.")
        var cumulative = 0
        for (bound, count) in zip(GroupCommitStatistics.bounds, commits.sizes) {
            cumulative += count
            out.sample("ledger_append_batch_size_bucket", [("le", String(bound))], String(cumulative))
        }
        out.sample("ledger_append_batch_size_bucket", [("le", "+Inf")], String(commits.batches))
        out.sample("ledger_append_batch_size_sum", [], String(commits.appends))
        out.sample("ledger_append_batch_size_count", [], String(commits.batches))
        let pool = store.pool.statistics
        out.family("ledger_db_pool_connections", "gauge", "Database connections of the API's pool, by state.")
        out.sample("ledger_db_pool_connections", [("state", "open")], String(pool.open))
        out.sample("ledger_db_pool_connections", [("state", "idle")], String(pool.idle))
        out.single("ledger_db_pool_waiting", "gauge", "Requests waiting for a pooled connection.", pool.waiting)
        out.single("ledger_db_pool_max_connections", "gauge", "The pool's size.", store.pool.configuration.maxConnections)
        out.single("ledger_live_feed_subscribers", "gauge", "Open /v1/errors/stream responses.", liveFeed.subscriberCount)
        out.single(
            "ledger_ingest_quarantine_dropped_total", "counter", "Refused notifications counted but not stored (quarantine cap).",
            ingestor.quarantineDroppedTotal
        )
        if let lags = try? await ProjectionLag.read(TimelineProjection.all, store: store) {
            out.family("ledger_projection_pending_events", "gauge", "Events stored and not yet applied, by projection.")
            for lag in lags { out.sample("ledger_projection_pending_events", [("projection", lag.projection)], String(lag.pendingEvents)) }
            out.family("ledger_projection_lag_seconds", "gauge", "Age of the oldest event not yet applied (0 when caught up), by projection.")
            for lag in lags {
                out.sample("ledger_projection_lag_seconds", [("projection", lag.projection)], String(lag.oldestPendingAge ?? 0))
            }
        }
        return HTTPResponse(
            status: 200, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]), body: .bytes(Array(out.text.utf8))
        )
    }
}
