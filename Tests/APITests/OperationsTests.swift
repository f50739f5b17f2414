import API
import Foundation
import Testing
import TestSupport

/// `/healthz`, `/readyz`, `/metrics`, and the route table the OpenAPI document must match.
@Suite("Health, readiness and metrics", .serialized)
struct OperationsTests {
    @Test("healthz answers; readyz is 200 with the projections current and 503 when they lag past the bound")
    func readiness() async throws {
        try await Harness.with { harness in
            let token = try await harness.token()
            let health = try await harness.client.get("/healthz")
            #expect(health.status == 200)
            #expect(try health.json["status"] as? String == "ok")
            try await harness.ingestAll([NotificationBody.error(NotificationBody.newSession(), evse: "DE*A36*E1*1", operator: "DE*A36")], token: token)
            try await harness.caughtUp()
            let ready = try await harness.client.get("/readyz")
            #expect(ready.status == 200, "\(ready.body)")
            #expect(try ready.json["status"] as? String == "ready")
        }
        try await Harness.with(configuration: .init(readyMaxLag: .seconds(1)), projector: false) { harness in
            let token = try await harness.token()
            try await harness.ingestAll([NotificationBody.error(NotificationBody.newSession(), evse: "DE*A36*E1*1", operator: "DE*A36")], token: token)
            try await Task.sleep(for: .milliseconds(1_500))
            let lagging = try await harness.client.get("/readyz")
            #expect(lagging.status == 503)
            let body = try lagging.json
            #expect(body["status"] as? String == "not_ready")
            #expect((body["projections"] as? [[String: Any]])?.contains { $0["within_bound"] as? Bool == false } == true)
        }
    }

    @Test("metrics: requests by route and status, latency histograms, ingest outcomes, pool, lag")
    func metrics() async throws {
        try await Harness.with { harness in
            let token = try await harness.token()
            try await harness.ingestAll([NotificationBody.error(NotificationBody.newSession(), evse: "DE*A36*E1*1", operator: "DE*A36")], token: token)
            _ = try await harness.ingest("{}", token: token)
            _ = try await harness.client.get("/v1/errors", token: token)
            _ = try await harness.client.get("/v1/nowhere", token: token)
            let reply = try await harness.client.get("/metrics")
            #expect(reply.status == 200)
            #expect(reply.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = reply.body
            for line in [
                #"ledger_http_requests_total{route="/api/oicp/notificationmgmt/v11/charging-notifications",method="POST",status="200"} 1"#,
                #"ledger_http_requests_total{route="/api/oicp/notificationmgmt/v11/charging-notifications",method="POST",status="400"} 1"#,
                #"ledger_http_requests_total{route="/v1/errors",method="GET",status="200"} 1"#,
                #"ledger_http_requests_total{route="unmatched",method="-",status="404"} 1"#,
                #"ledger_ingest_notifications_total{outcome="appended"} 1"#,
                #"ledger_ingest_notifications_total{outcome="rejected"} 1"#,
                #"ledger_http_request_duration_seconds_count{route="/v1/errors"} 1"#,
            ] {
                #expect(text.contains(line + "\n"), "metrics lack: \(line)")
            }
            // Two appends so far (the notification and the refusal's quarantine record), each its own group commit.
            func sample(_ prefix: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(prefix + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            }
            #expect(sample("ledger_append_batch_size_count") == 2)
            #expect(sample("ledger_append_batch_size_sum") == 2)
            #expect(sample(#"ledger_append_batch_size_bucket{le="1"}"#) == 2)
            #expect(sample(#"ledger_append_batch_size_bucket{le="+Inf"}"#) == 2)
            for name in ["ledger_append_batch_size_bucket", "ledger_db_pool_connections", "ledger_projection_lag_seconds", "ledger_live_feed_subscribers"] {
                #expect(text.contains("\n\(name)"), "metrics lack \(name)")
            }
            // Every sample line is `name{labels} value` or `name value`, as Prometheus parses it.
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                #expect(line.split(separator: " ").count == 2 && Double(line.split(separator: " ").last ?? "") != nil, "bad sample: \(line)")
            }
        }
    }

    @Test("the route table is recorded for the OpenAPI conformance check")
    func routeTable() throws {
        let routes = LedgerAPI.routeTable
        #expect(routes.count == Set(routes.map { "\($0.method) \($0.pattern)" }).count, "no route twice")
        #expect(routes.contains { $0.method == "POST" && $0.pattern == LedgerAPI.ingestPath })
        try Recorder.recordRoutes(routes)
    }
}
