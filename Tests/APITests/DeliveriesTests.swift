import API
import Foundation
import Postgres
import Testing
import TestSupport

/// `/v1/deliveries` over a running forwarder and the fake Hubject: a dead letter is listed,
/// summarised, sent again by an admin, delivered, and its story is in the session's timeline.
@Suite("Deliveries: list, summary, retry", .serialized)
struct DeliveriesTests {
    @Test("a dead letter is listed and summarised, an admin's retry delivers it, and the session timeline shows each step")
    func deadLetterRetried() async throws {
        try await Harness.with(forwarding: true) { harness in
            let fake = try #require(harness.fake)
            let token = try await harness.token([.read, .ingest])
            let admin = try await harness.token([.admin])
            let limited = try await harness.token([.read], operators: ["DE*OTH"])
            let session = NotificationBody.newSession()
            try fake.answer(["mode": "result_false", "code": "400"])
            try await harness.ingestAll([NotificationBody.error(session, evse: "DE*A36*E7*1", operator: "DE*A36")], token: token)
            var dead: [String: Any] = [:]
            try await eventually(timeout: .seconds(30), "dead-lettered") {
                let page = try await harness.client.get("/v1/deliveries?state=dead", token: token)
                dead = (try page.json["items"] as? [[String: Any]])?.first ?? [:]
                return !dead.isEmpty
            }
            let id = try #require(dead["id"] as? String)
            #expect(dead["session_id"] as? String == session)
            #expect(dead["operator_id"] as? String == "DE*A36")
            #expect(dead["status_code"] as? String == "400")
            #expect((dead["reason"] as? String)?.contains("code 400") == true)

            let one = try await harness.client.get("/v1/deliveries/\(id)", token: token)
            #expect(one.status == 200)
            #expect(try one.json["state"] as? String == "dead")
            let bySession = try await harness.client.get("/v1/deliveries?session=\(session)&limit=1", token: token)
            #expect((try bySession.json["items"] as? [[String: Any]])?.count == 1)

            let summary = try await harness.client.get("/v1/deliveries/summary", token: token)
            #expect(summary.status == 200, "\(summary.body)")
            let body = try summary.json
            #expect((body["states"] as? [String: Any])?["dead"] as? Int == 1)
            #expect((body["failures"] as? [[String: Any]])?.first?["reason"] as? String == "OICP 400")
            #expect((body["forwarder"] as? [String: Any])?["role"] as? String == "active")

            // Who may do what.
            #expect(try await harness.client.post("/v1/deliveries/\(id)/retry", body: [], token: token).status == 403, "retry needs admin")
            #expect(try await harness.client.get("/v1/deliveries/\(id)", token: limited).status == 404, "another operator's delivery")
            #expect((try await harness.client.get("/v1/deliveries", token: limited).json["items"] as? [Any])?.isEmpty == true)
            #expect(try await harness.client.get("/v1/deliveries/summary", token: limited).status == 404)
            let badState = try await harness.client.get("/v1/deliveries?state=lost", token: token)
            #expect(badState.status == 400 && badState.body.contains("state"))
            #expect(try await harness.client.get("/v1/deliveries/not-a-uuid", token: token).status == 400)
            #expect(try await harness.client.get("/v1/deliveries/\(UUID().uuidString.lowercased())", token: token).status == 404)

            try fake.answer(["mode": "success"])
            let retry = try await harness.client.post("/v1/deliveries/\(id)/retry", body: [], token: admin)
            #expect(retry.status == 202, "\(retry.body)")
            #expect(try retry.json["status"] as? String == "retry_requested")
            try await eventually(timeout: .seconds(30), "delivered after the retry") {
                try await harness.client.get("/v1/deliveries/\(id)", token: token).json["state"] as? String == "delivered"
            }
            let again = try await harness.client.post("/v1/deliveries/\(id)/retry", body: [], token: admin)
            #expect(again.status == 409)
            #expect((try again.json["error"] as? [String: Any])?["code"] as? String == "not_dead_letter")

            var types: [String] = []
            try await eventually(timeout: .seconds(30), "the session timeline shows the delivery's steps") {
                let timeline = try await harness.client.get("/v1/sessions/\(session)/timeline", token: token)
                types = (try timeline.json["items"] as? [[String: Any]])?.compactMap { $0["event_type"] as? String } ?? []
                return types.count >= 4
            }
            #expect(types == ["ChargingErrorReported", "NotificationDeadLettered", "DeliveryRetryRequested", "NotificationForwarded"])

            let ready = try await harness.client.get("/readyz")
            #expect((try ready.json["forwarder"] as? [String: Any])?["role"] as? String == "active")
            let metrics = try await harness.client.get("/metrics").body
            #expect(metrics.contains(#"ledger_forwarding_attempts_total{outcome="dead_letter"} 1"#))
            #expect(metrics.contains(#"ledger_forwarding_attempts_total{outcome="delivered"} 1"#))
            #expect(metrics.contains("ledger_forwarding_backlog 0"))
            #expect(metrics.contains("ledger_forwarding_delivery_seconds_count 1"))
        }
    }

    @Test("notifications the forwarder has not taken in (held behind an open transaction) show in the intake metrics, not as deliveries")
    func intakeHeldShowsInMetrics() async throws {
        try await Harness.with(forwarding: true) { harness in
            let token = try await harness.token([.read, .ingest])
            // A transaction holding an xid: every gap-safe reader, the forwarder's intake among them, waits behind it.
            let holder = try await PostgresConnection.connect(harness.url)
            try await holder.run { session in
                try session.execute(unsafeSQL: "BEGIN")
                _ = try session.query("SELECT pg_current_xact_id()")
            }
            try await harness.ingestAll([NotificationBody.error(NotificationBody.newSession(), evse: "DE*A36*E7*1", operator: "DE*A36")], token: token)
            // Held just past the metrics' one-second cache (every test in the cluster waits behind it).
            try await Task.sleep(for: .milliseconds(1_300))
            let held = try await harness.client.get("/metrics").body
            try await holder.run { try $0.execute(unsafeSQL: "COMMIT") }
            func sample(_ text: String, _ name: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            }
            #expect(sample(held, "ledger_forwarding_backlog") == 0, "no delivery row while the intake waits")
            #expect((sample(held, "ledger_forwarding_intake_pending_events") ?? 0) >= 1)
            #expect((sample(held, "ledger_forwarding_intake_lag_seconds") ?? 0) > 0)
            try await eventually(timeout: .seconds(30), "taken in and delivered once the transaction ends") {
                let text = try await harness.client.get("/metrics").body
                return sample(text, "ledger_forwarding_intake_pending_events") == 0 && sample(text, "ledger_forwarding_backlog") == 0
                    && text.contains(#"ledger_forwarding_attempts_total{outcome="delivered"} 1"#)
            }
        }
    }
}
