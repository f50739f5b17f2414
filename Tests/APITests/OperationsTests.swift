import API
import Foundation
import Postgres
import Testing
import TestSupport

/// `/healthz`, `/readyz`, `/metrics`, and the route table the OpenAPI document must match.
@Suite("Health, readiness and metrics", .serialized)
struct OperationsTests {
    @Test("healthz answers; readyz is 200 when the database answers, however far the projections lag (the lag is reported)")
    func readiness() async throws {
        try await Harness.with { harness in
            let token = try await harness.token()
            let health = try await harness.client.get("/healthz")
            #expect(health.status == 200)
            for path in ["/healthz", "/readyz", "/metrics"] {
                let refused = try await harness.client.get(path + "?verbose=1")
                #expect(refused.status == 400 && refused.body.contains("invalid_parameter"), "\(path): \(refused.body)")
            }
            #expect(try health.json["status"] as? String == "ok")
            try await harness.ingestAll([NotificationBody.error(NotificationBody.newSession(), evse: "DE*A36*E1*1", operator: "DE*A36")], token: token)
            try await harness.caughtUp()
            let ready = try await harness.client.get("/readyz")
            #expect(ready.status == 200, "\(ready.body)")
            #expect(try ready.json["status"] as? String == "ready")
        }
        try await Harness.with(projector: false) { harness in
            let token = try await harness.token()
            try await harness.ingestAll([NotificationBody.error(NotificationBody.newSession(), evse: "DE*A36*E1*1", operator: "DE*A36")], token: token)
            try await Task.sleep(for: .milliseconds(1_500))
            let lagging = try await harness.client.get("/readyz")
            // Ingest works while nothing projects: readiness must not take it out of the load balancer.
            #expect(lagging.status == 200, "\(lagging.body)")
            let body = try lagging.json
            #expect(body["status"] as? String == "ready")
            let lags = (body["projections"] as? [[String: Any]]) ?? []
            #expect(!lags.isEmpty && lags.allSatisfy { ($0["pending_events"] as? Int ?? 0) >= 1 && ($0["oldest_pending_s"] as? Double ?? 0) >= 1 })
        }
    }

    @Test("readyz is 503 while the database refuses connections, and 200 again when it is back")
    func notReadyWithoutDatabase() async throws {
        try await Harness.with(projector: false) { harness in
            #expect(try await harness.client.get("/readyz").status == 200)
            let name = String(harness.url.split(separator: "/").last ?? "")
            let admin = try await PostgresConnection.connect(try TestDatabase.adminURL())
            func allowConnections(_ allowed: Bool) async throws {
                try await admin.run { session in
                    try session.execute(unsafeSQL: "ALTER DATABASE \"\(name)\" ALLOW_CONNECTIONS \(allowed)")
                    if !allowed {
                        try session.query("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = \(name) AND pid <> pg_backend_pid()")
                    }
                }
            }
            try await allowConnections(false)
            // The figures are read at most once a second: wait out the cached answer.
            try await Task.sleep(for: .milliseconds(1_200))
            let down = try await harness.client.get("/readyz")
            try await allowConnections(true)
            #expect(down.status == 503, "\(down.body)")
            #expect(try down.json["database"] as? String == "unreachable")
            try await Task.sleep(for: .milliseconds(1_200))
            var back = try await harness.client.get("/readyz")
            for _ in 0..<20 where back.status != 200 {
                try await Task.sleep(for: .milliseconds(250))
                back = try await harness.client.get("/readyz")
            }
            #expect(back.status == 200, "\(back.body)")
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
                #"ledger_ingest_notifications_total{type="Error",outcome="appended"} 1"#,
                #"ledger_ingest_notifications_total{type="Start",outcome="appended"} 0"#,
                #"ledger_ingest_notifications_total{type="unknown",outcome="rejected"} 1"#,
                #"ledger_http_request_duration_seconds_count{route="/v1/errors"} 1"#,
            ] {
                #expect(text.contains(line + "\n"), "metrics lack: \(line)")
            }
            // Two appends so far (the notification and the refusal's quarantine record), each its own group commit.
            func sample(_ prefix: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(prefix + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            }
            // Pool states that do not overlap: in use and idle add up to what is open.
            #expect(text.contains(#"ledger_db_pool_connections{state="in_use"}"#) && text.contains(#"ledger_db_pool_connections{state="idle"}"#))
            #expect(!text.contains(#"ledger_db_pool_connections{state="open"}"#))
            #expect(sample("ledger_append_batch_size_count") == 2)
            #expect(sample("ledger_append_batch_size_sum") == 2)
            #expect(sample(#"ledger_append_batch_size_bucket{le="1"}"#) == 2)
            #expect(sample(#"ledger_append_batch_size_bucket{le="+Inf"}"#) == 2)
            for name in [
                "ledger_build_info{version=\"dev\"} 1", "ledger_database_up 1", "ledger_oldest_open_transaction_seconds", "ledger_unsealed_seconds", "ledger_event_partitions_ahead 3", "process_resident_memory_bytes",
                "process_cpu_seconds_total", "process_open_fds", "process_start_time_seconds", "ledger_append_batch_size_bucket", "ledger_db_pool_connections", "ledger_projection_lag_seconds", "ledger_live_feed_subscribers"] {
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
