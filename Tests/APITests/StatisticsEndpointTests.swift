import API
import Foundation
import Testing
import TestSupport

/// The statistics endpoints over live projections (the counting itself is tested in
/// ProjectionsTests/StatisticsTests): representations, defaults, refusals, operator limits.
@Suite("REST statistics endpoints", .serialized)
struct StatisticsEndpointTests {
    @Test("series, rankings, messages and reliability as JSON, CSV and NDJSON; a limited token counts its operators only")
    func statistics() async throws {
        try await Harness.with { harness in
            let token = try await harness.token()
            let own = NotificationBody.newEvse("DE*A36"), other = NotificationBody.newEvse("DE*B12")
            let (first, second, third) = (NotificationBody.newSession(), NotificationBody.newSession(), NotificationBody.newSession())
            try await harness.ingestAll(
                [
                    NotificationBody.start(first, evse: own, operator: "DE*A36"),
                    NotificationBody.error(first, evse: own, operator: "DE*A36", type: "ConnectorError", info: "plug locked"),
                    NotificationBody.end(first, evse: own, operator: "DE*A36"),
                    NotificationBody.start(second, evse: own, operator: "DE*A36"),
                    NotificationBody.end(second, evse: own, operator: "DE*A36"),
                    NotificationBody.error(third, evse: other, operator: "DE*B12", type: "CriticalError", info: "RCD tripped"),
                ], token: token)
            try await harness.caughtUp()

            // Default: the 30 days before now, by day, in UTC, zero-filled.
            let series = try await harness.client.get("/v1/statistics/series", token: token)
            #expect(series.status == 200, "\(series.body)")
            let body = try series.json
            #expect(body["bucket"] as? String == "day" && body["time_zone"] as? String == "UTC" && body["group_by"] as? String == "none")
            let points = try #require(body["points"] as? [[String: Any]])
            #expect(points.count == 31, "30 days taken to whole days")
            #expect(points.reduce(0) { $0 + ($1["errors"] as? Int ?? 0) } == 2)
            #expect(points.reduce(0) { $0 + ($1["sessions"] as? Int ?? 0) } == 3)

            let berlin = try await harness.client.get(
                "/v1/statistics/series?bucket=week&time_zone=Europe/Berlin&group_by=error_type&type=CriticalError", token: token)
            #expect(berlin.status == 200, "\(berlin.body)")
            let weekly = try #require(try berlin.json["points"] as? [[String: Any]])
            #expect(Set(weekly.compactMap { $0["group"] as? String }) == ["CriticalError"])
            #expect(weekly.reduce(0) { $0 + ($1["errors"] as? Int ?? 0) } == 1)

            let csv = try await harness.client.get("/v1/statistics/series?group_by=evse", token: token, headers: [("Accept", "text/csv")])
            #expect(csv.status == 200 && csv.headers["content-type"]?.hasPrefix("text/csv") == true)
            let lines = csv.body.split(separator: "\r\n")
            #expect(lines.first == "bucket_start,group,errors,sessions,errors_per_session")
            #expect(lines.count == 3 && lines.dropFirst().allSatisfy { $0.contains(own) || $0.contains(other) }, "\(csv.body)")

            let ranking = try await harness.client.get("/v1/statistics/rankings?min_sessions=1&by=error_session_share", token: token)
            #expect(ranking.status == 200, "\(ranking.body)")
            let ranked = try #require(try ranking.json["items"] as? [[String: Any]])
            #expect(ranked.map { $0["evse_id"] as? String } == [other, own], "1 of 1 sessions before 1 of 2")
            #expect(ranked.last?["error_session_share"] as? Double == 0.5)
            let ndjson = try await harness.client.get(
                "/v1/statistics/rankings?min_sessions=2", token: token, headers: [("Accept", "application/x-ndjson")])
            #expect(ndjson.body.split(separator: "\n").count == 1 && ndjson.body.contains(own), "only the EVSE with two sessions")

            let messages = try await harness.client.get("/v1/statistics/messages", token: token)
            let texts = try #require(try messages.json["items"] as? [[String: Any]])
            #expect(texts.map { $0["message"] as? String } == ["plug locked", "RCD tripped"])

            let reliability = try await harness.client.get("/v1/evses/\(own)/reliability", token: token)
            #expect(reliability.status == 200, "\(reliability.body)")
            let figures = try reliability.json
            #expect(figures["sessions"] as? Int == 2 && figures["errors"] as? Int == 1 && figures["abrupt_ends"] as? Int == 1)
            #expect(figures["sessions_since_last_error"] as? Int == 1)

            let limited = try await harness.token([.read], operators: ["DE*A36"])
            let byOperator = try await harness.client.get("/v1/statistics/series?group_by=operator", token: limited)
            #expect((try byOperator.json["points"] as? [[String: Any]])?.compactMap { $0["group"] as? String } == ["DE*A36"])
            let limitedRanking = try await harness.client.get("/v1/statistics/rankings?min_sessions=1", token: limited)
            #expect((try limitedRanking.json["items"] as? [[String: Any]])?.map { $0["evse_id"] as? String } == [own])
            #expect(try await harness.client.get("/v1/evses/\(other)/reliability", token: limited).status == 404)
            #expect(try await harness.client.get("/v1/statistics/series?operator=DE%2AB12", token: limited).status == 404)
            #expect(try await harness.client.get("/v1/statistics/messages?evse=\(other)", token: limited).status == 404)
            let limitedMessages = try await harness.client.get("/v1/statistics/messages", token: limited)
            #expect((try limitedMessages.json["items"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test("each refusal names its parameter and says why")
    func refusals() async throws {
        try await Harness.with(projector: false) { harness in
            let token = try await harness.token([.read])
            let cases: [(String, Int, String?)] = [
                ("/v1/statistics/series?bucket=month", 400, "bucket"),
                ("/v1/statistics/series?group_by=session", 400, "group_by"),
                ("/v1/statistics/series?time_zone=Mars/Olympus", 400, "time_zone"),
                ("/v1/statistics/series?time_zone=CET%3B", 400, "time_zone"),
                ("/v1/statistics/series?time_zone=Asia/Kolkata", 400, "time_zone"),
                ("/v1/statistics/series?from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z", 400, "to"),
                ("/v1/statistics/series?from=2000-01-01T00:00:00Z&to=2026-11-01T00:00:00Z", 400, "from"),
                ("/v1/statistics/series?type=Critical%20Error", 400, "type"),
                ("/v1/statistics/series?evse_id=DE*A36*E1*1", 400, "evse_id"),
                ("/v1/statistics/rankings?by=errors", 400, "by"),
                ("/v1/statistics/rankings?min_sessions=0", 400, "min_sessions"),
                ("/v1/statistics/rankings?limit=1001", 400, "limit"),
                ("/v1/statistics/rankings?evse=DE*A36*E1*1", 400, "evse"),
                ("/v1/statistics/messages?limit=101", 400, "limit"),
                ("/v1/evses/DE*A36*E1*1/reliability?bucket=day", 400, "bucket"),
                ("/v1/evses/DE*A36*ENOPE*1/reliability", 404, nil),
            ]
            for (target, status, field) in cases {
                let reply = try await harness.client.get(target, token: token)
                #expect(reply.status == status, "\(target): \(reply.body)")
                let error = try #require(try reply.json["error"] as? [String: Any], "\(target)")
                #expect((error["message"] as? String)?.isEmpty == false)
                if let field {
                    #expect((error["details"] as? [[String: Any]])?.first?["field"] as? String == field, "\(target): \(reply.body)")
                }
            }
        }
    }
}

/// The fault-history page's files: served without a token, fenced in by their headers. (The page
/// itself is driven in Chromium by Tests/browser/ui_test.py in ./deploy/test.)
@Suite("The fault-history page's files")
struct FaultHistoryPageTests {
    @Test("/ui, its script and its style sheet: no token needed, no data inside, a policy that allows only them")
    func files() async throws {
        try await Harness.with(projector: false) { harness in
            let page = try await harness.client.get("/ui")
            #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.body.contains(#"<script src="/ui/app.js" defer></script>"#) && page.body.contains(#"<label for="token">"#))
            let policy = try #require(page.headers["content-security-policy"])
            #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"))
            #expect(page.headers["referrer-policy"] == "no-referrer" && page.headers["x-content-type-options"] == "nosniff")
            #expect(try await harness.client.get("/ui/").body == page.body, "with or without the slash")
            let script = try await harness.client.get("/ui/app.js")
            #expect(script.status == 200 && script.headers["content-type"] == "text/javascript; charset=utf-8")
            #expect(script.body.contains(#"Authorization: "Bearer " + token"#), "the token goes in the header")
            #expect(!script.body.contains("?token=") && !script.body.contains("&token="), "never in a URL")
            #expect(!script.body.contains("innerHTML"), "data is put in the page as text")
            let style = try await harness.client.get("/ui/app.css")
            #expect(style.status == 200 && style.headers["content-type"] == "text/css; charset=utf-8")
            #expect(try await harness.client.get("/ui?token=x").status == 400, "no query parameters")
        }
    }
}
