import EventStore
import Forwarding
import Foundation
import HTTPServer
import JSON
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

    /// Ready to take notifications: the database answers.
    ///
    /// Projection lag and the forwarder are reported, not judged. The lag is the same on every
    /// instance (one database) and a long transaction anywhere in the cluster stalls it, so a
    /// lag bound would take every replica out of the load balancer at once and cut off ingest,
    /// which works; read freshness belongs in metrics and alerts (`ledger_projection_lag_seconds`).
    /// Likewise a Hubject outage must not take ingest out (notifications are kept and go later).
    func readyz(_ match: RouteMatch) async throws -> HTTPResponse {
        _ = try QueryParameters(match.target, allowed: [])
        let lags: [ProjectionLag]
        do {
            lags = try await projectionLags.get()
        } catch {
            // The error's detail goes to the log, never to the (unauthenticated) answer.
            logger.warning("readiness: the database did not answer", metadata: LogMetadata.error(error))
            let body = JSONValue.object(
                JSONObject([
                    ("status", .string("not_ready")), ("database", .string("unreachable")), ("projections", .array([])),
                    ("forwarder", forwarderState),
                ])
            )
            return .json(503, body.serialized())
        }
        let projections = lags.map { lag -> JSONValue in
            .object(
                JSONObject([
                    ("name", .string(lag.projection)), ("pending_events", .number(String(lag.pendingEvents))),
                    ("oldest_pending_s", lag.oldestPendingAge.map { .number(String(format: "%.3f", $0)) } ?? .null),
                    ("projector_active", .bool(lag.projectorActive)),
                ])
            )
        }
        let body = JSONValue.object(
            JSONObject([
                ("status", .string("ready")), ("database", .string("ok")), ("projections", .array(projections)), ("forwarder", forwarderState),
            ])
        )
        return .json(200, body.serialized())
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
        // The states do not overlap: their sum is the connections open.
        out.family("ledger_db_pool_connections", "gauge", "Open database connections of the API's pool, by state (in_use + idle = open).")
        out.sample("ledger_db_pool_connections", [("state", "in_use")], String(pool.open - pool.idle))
        out.sample("ledger_db_pool_connections", [("state", "idle")], String(pool.idle))
        out.single("ledger_db_pool_waiting", "gauge", "Requests waiting for a pooled connection.", pool.waiting)
        out.single("ledger_db_pool_max_connections", "gauge", "The pool's size.", store.pool.configuration.maxConnections)
        out.single("ledger_live_feed_subscribers", "gauge", "Open /v1/errors/stream responses.", liveFeed.subscriberCount)
        out.single("ledger_append_queue", "gauge", "Appends waiting for a group-commit lane.", store.queuedAppends)
        out.single(
            "ledger_ingest_quarantine_dropped_total", "counter", "Refused notifications counted but not stored (quarantine cap).",
            ingestor.quarantineDroppedTotal
        )
        let lags = try? await projectionLags.get()
        await instance.render(databaseAnswered: lags != nil, into: &out)
        if let projector { ProjectorFigures(status: projector.status).render(into: &out) }
        if let lags { ProjectorFigures.render(lags, into: &out) }
        await renderForwarding(into: &out)
        return HTTPResponse(
            status: 200, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]), body: .bytes(Array(out.text.utf8))
        )
    }

    /// Forwarding: this process's forwarder's counts, and the backlog as the database has it.
    private func renderForwarding(into out: inout Exposition) async {
        if let forwarder {
            let statistics = forwarder.currentStatistics
            out.family("ledger_forwarding_attempts_total", "counter", "Forwarding attempts answered or failed, by outcome, since this process started.")
            for outcome in ["delivered", "refused_by_emp", "retryable", "dead_letter"] {
                out.sample("ledger_forwarding_attempts_total", [("outcome", outcome)], String(statistics.attempts[outcome] ?? 0))
            }
            out.single("ledger_forwarding_superseded_total", "counter", "Held Progress notifications a newer one replaced.", statistics.superseded)
            histogram(&out, "ledger_forwarding_request_seconds", "Hubject's answer time per attempt that got an HTTP response.", statistics.requestSeconds)
            histogram(&out, "ledger_forwarding_delivery_seconds", "From a notification's commit to Hubject's acknowledgement.", statistics.deliverySeconds)
            out.single("ledger_forwarding_active", "gauge", "1 while this process holds the forwarder lock.", statistics.role == .active ? 1 : 0)
            out.single("ledger_forwarding_held", "gauge", "Open deliveries the active forwarder holds in memory.", statistics.held)
            out.single("ledger_forwarding_in_flight", "gauge", "Notifications sent and not yet answered.", statistics.inFlight)
        }
        if let backlog = try? await deliveryBacklog.get() {
            out.single("ledger_forwarding_backlog", "gauge", "Deliveries pending or retrying.", backlog.open)
            out.single("ledger_forwarding_oldest_pending_seconds", "gauge", "Age of the oldest open delivery (0 when none).", backlog.oldestAge ?? 0)
            out.single(
                "ledger_forwarding_intake_pending_events", "gauge", "Events stored past the forwarder's intake checkpoint (not yet deliveries).",
                backlog.notTakenIn
            )
            out.single(
                "ledger_forwarding_intake_lag_seconds", "gauge",
                "Age of the oldest event the forwarder has not taken in (0 when none): held behind an open transaction, or no forwarder runs.",
                backlog.oldestNotTakenInAge ?? 0
            )
        }
    }

    private func histogram(_ out: inout Exposition, _ name: String, _ help: String, _ histogram: ForwardingStatistics.Histogram) {
        out.family(name, "histogram", help)
        var cumulative = 0
        for (bound, count) in zip(ForwardingStatistics.bounds, histogram.counts) {
            cumulative += count
            out.sample(name + "_bucket", [("le", String(bound))], String(cumulative))
        }
        out.sample(name + "_bucket", [("le", "+Inf")], String(histogram.count))
        out.sample(name + "_sum", [], String(histogram.sum))
        out.sample(name + "_count", [], String(histogram.count))
    }
}
