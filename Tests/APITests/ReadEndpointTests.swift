import API
import Foundation
import Ingestion
import Testing
import TestSupport

/// The `/v1` read endpoints over live projections.
@Suite("REST read endpoints", .serialized)
struct ReadEndpointTests {
    @Test("session, timeline, EVSE errors (with * plain and percent-encoded), EVSE summary, fleet feed, top EVSEs")
    func reads() async throws {
        try await Harness.with { harness in
            let token = try await harness.token()
            let evse = NotificationBody.newEvse("DE*A36")
            let session = NotificationBody.newSession()
            try await harness.ingestAll(
                [
                    NotificationBody.start(session, evse: evse, operator: "DE*A36"),
                    NotificationBody.error(session, evse: evse, operator: "DE*A36", type: "ConnectorError", info: "plug locked"),
                    NotificationBody.error(session, evse: evse, operator: "DE*A36", type: "CriticalError", info: "RCD"),
                    NotificationBody.end(session, evse: evse, operator: "DE*A36"),
                ], token: token)
            try await harness.caughtUp()

            let summary = try await harness.client.get("/v1/sessions/\(session)", token: token)
            #expect(summary.status == 200)
            let fields = try summary.json
            #expect(fields["session_id"] as? String == session)
            #expect(fields["evse_id"] as? String == evse)
            #expect(fields["error_count"] as? Int == 2)
            #expect(fields["status"] as? String == "ended")

            let timeline = try await harness.client.get("/v1/sessions/\(session)/timeline", token: token)
            #expect(timeline.status == 200)
            let items = try #require(try timeline.json["items"] as? [[String: Any]])
            #expect(items.map { $0["notification_type"] as? String } == ["Start", "Error", "Error", "End"])

            let plain = try await harness.client.get("/v1/evses/\(evse)/errors", token: token)
            let encoded = try await harness.client.get("/v1/evses/\(percentEncoded(evse))/errors", token: token)
            #expect(plain.status == 200)
            #expect(plain.body == encoded.body, "the * and %2A forms name the same EVSE")
            let errors = try #require(try plain.json["items"] as? [[String: Any]])
            #expect(errors.map { $0["error_type"] as? String } == ["CriticalError", "ConnectorError"], "newest first")
            #expect(errors.allSatisfy { $0["phase"] as? String == "abrupt_end" }, "the End came right after the errors")

            let critical = try await harness.client.get("/v1/evses/\(evse)/errors?type=CriticalError", token: token)
            #expect((try critical.json["items"] as? [[String: Any]])?.count == 1)
            let both = try await harness.client.get("/v1/evses/\(evse)/errors?type=CriticalError,ConnectorError", token: token)
            #expect((try both.json["items"] as? [[String: Any]])?.count == 2)
            let future = try await harness.client.get("/v1/evses/\(evse)/errors?from=2099-01-01T00:00:00Z", token: token)
            #expect(future.status == 200)
            #expect((try future.json["items"] as? [[String: Any]])?.isEmpty == true, "a known EVSE with nothing in the window: empty, not 404")

            let evseSummary = try await harness.client.get("/v1/evses/\(percentEncoded(evse))/summary", token: token)
            #expect(evseSummary.status == 200)
            #expect(try evseSummary.json["error_count"] as? Int == 2)

            let fleet = try await harness.client.get("/v1/errors?operator=DE%2AA36&limit=10", token: token)
            #expect((try fleet.json["items"] as? [[String: Any]])?.count == 2)
            let top = try await harness.client.get("/v1/errors/top-evses?limit=5", token: token)
            #expect(top.status == 200)
            let ranking = try #require(try top.json["items"] as? [[String: Any]])
            #expect(ranking.first?["evse_id"] as? String == evse)
            #expect(ranking.first?["errors"] as? Int == 2)

            let head = try await harness.client.send("HEAD", "/v1/sessions/\(session)", token: token)
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
        }
    }

    @Test("pages follow their cursors with no row twice or missed, while newer errors arrive")
    func pagination() async throws {
        try await Harness.with { harness in
            let token = try await harness.token()
            let evse = NotificationBody.newEvse("DE*A36")
            let bodies = (0..<7).map { NotificationBody.error(NotificationBody.newSession(), evse: evse, operator: "DE*A36", info: "e\($0)") }
            try await harness.ingestAll(bodies, token: token)
            try await harness.caughtUp()
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let target = "/v1/evses/\(evse)/errors?limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await harness.client.get(target, token: token).json
                seen += (page["items"] as? [[String: Any]] ?? []).compactMap { $0["error_additional_info"] as? String }
                cursor = page["next_cursor"] as? String
                pages += 1
                if pages == 1 {
                    // Newer than every page: must not shift what the next pages hold.
                    try await harness.ingestAll([NotificationBody.error(NotificationBody.newSession(), evse: evse, operator: "DE*A36", info: "late")], token: token)
                    try await harness.caughtUp()
                }
            } while cursor != nil && pages < 10
            #expect(seen == (0..<7).reversed().map { "e\($0)" })
            #expect(pages == 3)
        }
    }

    @Test("bad parameters are 400 naming the parameter; unknown things are 404; both in the one JSON error shape")
    func problems() async throws {
        try await Harness.with { harness in
            let token = try await harness.token()
            let cases: [(String, Int, String, String?)] = [
                ("/v1/errors?from=yesterday", 400, "invalid_parameter", "from"),
                ("/v1/errors?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", 400, "invalid_parameter", "to"),
                ("/v1/errors?limit=0", 400, "invalid_parameter", "limit"),
                ("/v1/errors?limit=1001", 400, "invalid_parameter", "limit"),
                ("/v1/errors?type=Connector%20Error", 400, "invalid_parameter", "type"),
                ("/v1/errors?operator_id=DE%2AA36", 400, "invalid_parameter", "operator_id"),
                ("/v1/errors?cursor=garbage", 400, "invalid_parameter", "cursor"),
                // Values Swift parses but PostgreSQL cannot take were a 503 once ("the database
                // did not answer"), and a client was told to send them again.
                ("/v1/sessions/00000000-0000-4000-8000-000000000000/timeline?cursor=%2B49324105091", 400, "invalid_parameter", "cursor"),
                ("/v1/sessions/00000000-0000-4000-8000-000000000000/timeline?cursor=4294967296", 400, "invalid_parameter", "cursor"),
                ("/v1/errors?cursor=9223372036854775807-1", 400, "invalid_parameter", "cursor"),
                ("/v1/errors?cursor=%2B1-1", 400, "invalid_parameter", "cursor"),
                ("/v1/evses/DE*A36*E1*1/errors?cursor=9223372036854775807-1", 400, "invalid_parameter", "cursor"),
                ("/v1/errors?limit=%2B5", 400, "invalid_parameter", "limit"),
                ("/v1/errors?limit=1&limit=2", 400, "invalid_parameter", "limit"),
                ("/v1/sessions/00000000-0000-4000-8000-000000000000", 404, "not_found", nil),
                ("/v1/sessions/00000000-0000-4000-8000-000000000000/timeline", 404, "not_found", nil),
                ("/v1/evses/DE%2AZZZ%2AE9%2A9/errors", 404, "not_found", nil),
                ("/v1/evses/DE*ZZZ*E9*9/summary", 404, "not_found", nil),
                ("/v1/nothing-here", 404, "not_found", nil),
                ("/v1/errors/%zz", 400, "bad_request", nil),
            ]
            for (target, status, code, field) in cases {
                let reply = try await harness.client.get(target, token: token)
                #expect(reply.status == status, "\(target): \(reply.body)")
                let error = try #require(try reply.json["error"] as? [String: Any], "\(target)")
                #expect(error["code"] as? String == code, "\(target)")
                #expect((error["message"] as? String)?.isEmpty == false)
                if let field {
                    let details = error["details"] as? [[String: Any]]
                    #expect(details?.first?["field"] as? String == field, "\(target): \(reply.body)")
                }
            }
            let post = try await harness.client.send("POST", "/v1/errors", token: token)
            #expect(post.status == 405)
            #expect(post.headers["allow"] == "GET, HEAD")
            #expect((try post.json["error"] as? [String: Any])?["code"] as? String == "method_not_allowed")
        }
    }

    @Test("tokens: none is 401, ingest-only is 403; an operator-limited token sees its operator's data and 404 for the rest")
    func operatorLimits() async throws {
        try await Harness.with { harness in
            let writer = try await harness.token([.ingest])
            let ownEvse = NotificationBody.newEvse("DE*A36"), otherEvse = NotificationBody.newEvse("DE*B12")
            let own = NotificationBody.newSession(), other = NotificationBody.newSession()
            try await harness.ingestAll(
                [
                    NotificationBody.error(own, evse: ownEvse, operator: "DE*A36"),
                    NotificationBody.error(other, evse: otherEvse, operator: "DE*B12"),
                ], token: writer)
            try await harness.caughtUp()

            let none = try await harness.client.get("/v1/errors")
            #expect(none.status == 401)
            #expect(none.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
            #expect(try await harness.client.get("/v1/errors", token: writer).status == 403)

            let limited = try await harness.token([.read], operators: ["DE*A36"])
            #expect(try await harness.client.get("/v1/sessions/\(own)", token: limited).status == 200)
            #expect(try await harness.client.get("/v1/sessions/\(other)", token: limited).status == 404)
            #expect(try await harness.client.get("/v1/sessions/\(other)/timeline", token: limited).status == 404)
            #expect(try await harness.client.get("/v1/evses/\(otherEvse)/errors", token: limited).status == 404)
            #expect(try await harness.client.get("/v1/evses/\(otherEvse)/summary", token: limited).status == 404)
            #expect(
                try await harness.client.get("/v1/evses/\(otherEvse)/errors", token: limited, headers: [("Accept", "text/csv")]).status == 404)
            #expect(try await harness.client.get("/v1/errors?operator=DE%2AB12", token: limited).status == 404)
            let feed = try await harness.client.get("/v1/errors", token: limited).json["items"] as? [[String: Any]]
            #expect(feed?.map { $0["operator_id"] as? String } == ["DE*A36"])
            let top = try await harness.client.get("/v1/errors/top-evses", token: limited).json["items"] as? [[String: Any]]
            #expect(top?.map { $0["evse_id"] as? String } == [ownEvse])

            let everyone = try await harness.token([.read])
            let all = try await harness.client.get("/v1/errors", token: everyone).json["items"] as? [[String: Any]]
            #expect(all?.count == 2)
        }
    }

    @Test("exports: CSV and NDJSON stream every row across pages, equal to the JSON pages; an unknown Accept is 406")
    func exports() async throws {
        try await Harness.with { harness in
            let token = try await harness.token()
            let evse = NotificationBody.newEvse("DE*A36")
            // More rows than one internal page (1,000), recorded straight through the store's ingestor.
            let ingestor = Ingestor(store: harness.store)
            for index in 0..<1_205 {
                // The first one's info, JSON-escaped: a, "quoted" <LF> line.
                let info = index == 0 ? #"a, \"quoted\"\nline"# : "n\(index)"
                let body = NotificationBody.error(NotificationBody.newSession(), evse: evse, operator: "DE*A36", info: info)
                let outcome = try await ingestor.ingest(Array(body.utf8), context: .init(receivedAt: Date(), client: "test", source: "test"))
                guard case .appended = outcome.disposition else { throw TestFailure("not appended: \(outcome.disposition)") }
            }
            try await harness.caughtUp(timeout: .seconds(60))

            let ndjson = try await harness.client.get("/v1/evses/\(evse)/errors", token: token, headers: [("Accept", "application/x-ndjson")])
            #expect(ndjson.status == 200)
            #expect(ndjson.headers["transfer-encoding"] == "chunked")
            let lines = ndjson.body.split(separator: "\n")
            #expect(lines.count == 1_205)
            let positions = try lines.map { line in
                (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["position"] as? Int ?? -1
            }
            #expect(Set(positions).count == 1_205, "no row twice")
            #expect(positions == positions.sorted(by: >), "newest first throughout")

            let csv = try await harness.client.get("/v1/evses/\(evse)/errors", token: token, headers: [("Accept", "text/csv")])
            #expect(csv.status == 200)
            #expect(csv.headers["content-type"]?.hasPrefix("text/csv") == true)
            let rows = csv.body.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(rows.first == "position,received_at,evse_id,operator_id,error_type,error_additional_info,session_id,session_seq,phase,event_id")
            #expect(csv.body.contains("\"a, \"\"quoted\"\"\nline\""), "RFC 4180 quoting")
            // The header and every row (the quoted line feed is LF inside a field; records end in CRLF).
            #expect(rows.count == 1 + 1_205)
            let capped = try await harness.client.get("/v1/evses/\(evse)/errors?limit=1100", token: token, headers: [("Accept", "text/csv")])
            #expect(capped.body.components(separatedBy: "\r\n").filter { !$0.isEmpty }.count == 1 + 1_100, "limit caps an export")

            let page = try await harness.client.get("/v1/evses/\(evse)/errors?limit=5", token: token)
            let firstFive = (try page.json["items"] as? [[String: Any]])?.compactMap { $0["position"] as? Int }
            #expect(firstFive == Array(positions.prefix(5)))

            let html = try await harness.client.get("/v1/errors", token: token, headers: [("Accept", "text/html")])
            #expect(html.status == 406)
            #expect((try html.json["error"] as? [String: Any])?["code"] as? String == "not_acceptable")
            let timelineCSV = try await harness.client.get(
                "/v1/errors/top-evses", token: token, headers: [("Accept", "text/csv")])
            #expect(timelineCSV.body.hasPrefix("evse_id,operator_id,errors,connector_errors,critical_errors,last_error_at\r\n"))
        }
    }
}
