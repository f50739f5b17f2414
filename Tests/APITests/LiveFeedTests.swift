import API
import Foundation
import Postgres
import Testing
import TestSupport

/// `GET /v1/errors/stream`: Server-Sent Events on gap-safe store cursors.
@Suite("Live error feed (SSE)", .serialized)
struct LiveFeedTests {
    /// The `id:` lines of an SSE body, in order.
    private func ids(_ body: String) -> [String] {
        body.components(separatedBy: "\n").filter { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) }
    }

    private func data(_ body: String) throws -> [[String: Any]] {
        try body.components(separatedBy: "\n").filter { $0.hasPrefix("data: ") }.map {
            try JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any] ?? [:]
        }
    }

    @Test("errors arrive live; reconnecting with Last-Event-ID resumes with no gap and no duplicate")
    func resume() async throws {
        try await Harness.with(projector: false) { harness in
            let token = try await harness.token()
            let evse = NotificationBody.newEvse("DE*A36")
            let session = NotificationBody.newSession()
            try await harness.ingestAll([NotificationBody.start(session, evse: evse, operator: "DE*A36")], token: token)

            // Subscribe, then post two errors (and a Start that the feed must skip) while it is open.
            let posting = Task {
                // The feed counts a subscriber once it has taken its starting cursor.
                try await eventually("the feed has subscribed") { harness.api.liveFeedSubscribers == 1 }
                try await harness.ingestAll(
                    [
                        NotificationBody.error(session, evse: evse, operator: "DE*A36", info: "one"),
                        NotificationBody.start(NotificationBody.newSession(), evse: evse, operator: "DE*A36"),
                        NotificationBody.error(session, evse: evse, operator: "DE*A36", info: "two"),
                    ], token: token)
            }
            let live = try await harness.client.stream("/v1/errors/stream", token: token) { body in
                body.components(separatedBy: "\nid: ").count >= 3 || body.hasPrefix("id: ") && body.contains("two")
            }
            try await posting.value
            #expect(live.status == 200)
            #expect(live.headers["content-type"]?.hasPrefix("text/event-stream") == true)
            #expect(live.body.hasPrefix("retry: "))
            let first = try data(live.body)
            #expect(first.map { $0["error_additional_info"] as? String } == ["one", "two"], "the Error before subscribing is not replayed; the Start is skipped")
            let seen = ids(live.body)
            #expect(seen.count == 2)
            // Named `charging_error`, not `error`: a browser's EventSource fires its own `error`
            // event for connection failures, so a feed event of that name never reaches a page.
            let names = live.body.components(separatedBy: "\n").filter { $0.hasPrefix("event: ") }
            #expect(names == ["event: charging_error", "event: charging_error"], "\(names)")

            // While disconnected: two more errors. Resuming after the first id gives two, three, four.
            try await harness.ingestAll(
                [
                    NotificationBody.error(session, evse: evse, operator: "DE*A36", info: "three"),
                    NotificationBody.error(session, evse: evse, operator: "DE*A36", info: "four"),
                ], token: token)
            let resumed = try await harness.client.stream("/v1/errors/stream", token: token, headers: [("Last-Event-ID", seen[0])]) { body in
                body.contains("four")
            }
            #expect(try data(resumed.body).map { $0["error_additional_info"] as? String } == ["two", "three", "four"])
            #expect(ids(resumed.body).first == seen[1])

            // Ids are plain digits, as the feed sends them; the fuzzer found signs taken as well.
            for id in ["yesterday", "+5-+3", "5--3", "-5-3", "5-", "99999999999999999999999-1"] {
                let bad = try await harness.client.get("/v1/errors/stream", token: token, headers: [("Last-Event-ID", id)])
                #expect(bad.status == 400, "Last-Event-ID \(id)")
            }
        }
    }

    @Test("an operator-limited token's feed carries only its operator's errors; idle feeds get heartbeats")
    func filteredAndHeartbeats() async throws {
        try await Harness.with(configuration: .init(heartbeat: .seconds(1), tokenCacheTTL: .milliseconds(100)), projector: false) { harness in
            let writer = try await harness.token([.ingest])
            let limited = try await harness.token([.read], operators: ["DE*A36"])
            let posting = Task {
                try await eventually("the feed has subscribed") { harness.api.liveFeedSubscribers == 1 }
                try await harness.ingestAll(
                    [
                        NotificationBody.error(NotificationBody.newSession(), evse: "DE*B12*E1*1", operator: "DE*B12", info: "other"),
                        NotificationBody.error(NotificationBody.newSession(), evse: "DE*A36*E1*1", operator: "DE*A36", info: "own"),
                    ], token: writer)
            }
            let feed = try await harness.client.stream("/v1/errors/stream", token: limited) { $0.contains("own") }
            try await posting.value
            #expect(try data(feed.body).map { $0["operator_id"] as? String } == ["DE*A36"])

            let quiet = try await harness.client.stream("/v1/errors/stream?type=CriticalError", token: limited) { $0.contains(": heartbeat") }
            #expect(quiet.body.contains(": heartbeat\n\n"))
        }
    }

    @Test("a shutdown ends open feeds and completes")
    func shutdownEndsFeeds() async throws {
        let harness = try await Harness.start(projector: false)
        let token = try await harness.token([.read])
        let open = Task { try await harness.client.stream("/v1/errors/stream", token: token) { _ in false } }
        try await eventually("the feed is open") { harness.api.liveFeedSubscribers == 1 }
        let clock = ContinuousClock()
        let started = clock.now
        await harness.stop()
        // Under 3 s, with the harness's grace at 6 s: ended by the shutdown, with room for a
        // machine busy with every other suite.
        #expect(clock.now - started < .seconds(3), "the feed ended with the shutdown, not at the grace deadline")
        let reply = try await open.value
        #expect(reply.status == 200)
    }

    @Test("one LISTEN connection per process: the projector, the forwarder and every live feed share it")
    func oneListener() async throws {
        try await Harness.with(projector: true, forwarding: true) { harness in
            let token = try await harness.token()
            let evse = NotificationBody.newEvse("DE*A36")
            let feeds = (0..<3).map { _ in
                Task { try await harness.client.stream("/v1/errors/stream", token: token) { $0.contains("listened") } }
            }
            try await eventually("three feeds are open") { harness.api.liveFeedSubscribers == 3 }
            try await harness.ingestAll([NotificationBody.error(NotificationBody.newSession(), evse: evse, operator: "DE*A36", info: "listened")], token: token)
            for feed in feeds { #expect(try await feed.value.body.contains("listened"), "every feed woke") }
            let connection = try await PostgresConnection.connect(harness.url)
            let listeners = try await connection.run { session in
                try session.query(
                    "SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'error-ledger-listener'"
                ).decode(Int.self, row: 0, column: 0)
            }
            #expect(listeners == 1)
            #expect(harness.store.changes.followers >= 3, "the projector, the forwarder and the feeds follow the one listener")
        }
    }
}
