import API
import EventStore
import Foundation
import Ledger
import Postgres
import Testing
import TestSupport

/// `POST /api/oicp/notificationmgmt/v11/charging-notifications` answered as Hubject would.
@Suite("OICP ingest endpoint", .serialized)
struct IngestEndpointTests {
    @Test("an accepted notification is durable before its 000 acknowledgement; a replay with the same key gets the same answer")
    func acceptedAndReplayed() async throws {
        try await Harness.with(projector: false) { harness in
            let token = try await harness.token([.ingest])
            let session = NotificationBody.newSession()
            let body = NotificationBody.error(session, evse: "DE*A36*E1*1", operator: "DE*A36", info: "RCD tripped")

            let first = try await harness.ingest(body, token: token, headers: [("Idempotency-Key", "key-1")])
            #expect(first.status == 200)
            #expect(first.headers["content-type"]?.hasPrefix("application/json") == true)
            let ack = try first.json
            #expect(ack["Result"] as? Bool == true)
            #expect((ack["StatusCode"] as? [String: Any])?["Code"] as? String == "000")
            #expect(ack["SessionID"] as? String == session)
            #expect(first.body.hasPrefix(#"{"Result":true,"StatusCode":{"Code":"000""#), "keys in the spec's order: \(first.body)")
            // Durable: the event is in the session's stream by the time the answer arrived.
            let events = try await harness.store.readStream("session-\(session)")
            #expect(events.map(\.eventType) == ["ChargingErrorReported"])

            let replay = try await harness.ingest(body, token: token, headers: [("Idempotency-Key", "key-1")])
            #expect(replay.status == 200)
            #expect(replay.body == first.body)
            #expect(replay.headers["idempotent-replayed"] == "true")
            #expect(try await harness.store.readStream("session-\(session)").count == 1, "a replay stores nothing")

            let reused = try await harness.ingest(
                NotificationBody.error(session, evse: "DE*A36*E1*1", operator: "DE*A36", info: "other"), token: token,
                headers: [("Idempotency-Key", "key-1")]
            )
            #expect(reused.status == 409)
            let reusedAck = try reused.json
            #expect(reusedAck["Result"] as? Bool == false)
            let status = try #require(reusedAck["StatusCode"] as? [String: Any])
            #expect(status["Code"] as? String == "022")
            #expect((status["AdditionalInfo"] as? String)?.contains("Idempotency-Key key-1 was used before") == true)
        }
    }

    @Test("a notification for a session whose month retention is taking out is a 409 saying so; nothing is stored")
    func sessionRetiring() async throws {
        try await Harness.with(projector: false) { harness in
            let token = try await harness.token([.ingest])
            let session = NotificationBody.newSession()
            #expect(try await harness.ingest(NotificationBody.start(session, evse: "DE*A36*E1*1"), token: token).status == 200)
            // Its month made old and retiring, as the owner (db/0020).
            let owner = try await PostgresConnection.connect(harness.url)
            try await owner.run { s in
                try s.execute(
                    unsafeSQL: """
                        SELECT ledger.create_event_partition('2024-01-01');
                        ALTER TABLE ledger.events DISABLE TRIGGER events_reject_update_delete;
                        UPDATE ledger.events SET stream_month = '2024-01-01' WHERE stream_id = 'session-\(session)';
                        ALTER TABLE ledger.events ENABLE TRIGGER events_reject_update_delete;
                        UPDATE ledger.streams SET stream_month = '2024-01-01' WHERE stream_id = 'session-\(session)';
                        SELECT ledger.retention_begin('2024-01-01', '24 months', 'test')
                        """
                )
            }
            let reply = try await harness.ingest(NotificationBody.error(session, evse: "DE*A36*E1*1", info: "late"), token: token)
            #expect(reply.status == 409)
            let status = try #require(try reply.json["StatusCode"] as? [String: Any])
            #expect(status["Code"] as? String == "022")
            let info = try #require(status["AdditionalInfo"] as? String)
            #expect(info.contains("session-\(session) began in 2024-01") && info.contains("LEDGER_RETENTION"), "\(info)")
            #expect(try await harness.store.readStream("session-\(session)").count == 1, "nothing stored")
        }
    }

    @Test("a body that breaks OICP gets 400, Result false, 022, and every field problem; it is quarantined, not recorded")
    func refused() async throws {
        try await Harness.with(projector: false) { harness in
            let token = try await harness.token([.ingest])
            let body = #"{"Type":"Error","SessionID":"nope","EvseID":"DE*A36*0002*1","ErrorType":"Connector Error"}"#
            let reply = try await harness.ingest(body, token: token)
            #expect(reply.status == 400)
            let ack = try reply.json
            #expect(ack["Result"] as? Bool == false)
            let status = try #require(ack["StatusCode"] as? [String: Any])
            #expect(status["Code"] as? String == "022")
            let info = try #require(status["AdditionalInfo"] as? String)
            for field in ["/SessionID", "/EvseID", "/OperatorID", "/ErrorType"] {
                #expect(info.contains(field), "AdditionalInfo names \(field): \(info)")
            }
            let head = try #require(try await harness.store.headPosition())
            // Read until the gap-safe order reaches the newest stored event: other suites' open
            // transactions can hold the cluster's read horizon back, and an empty read proves nothing.
            var quarantined: [RecordedEvent] = []
            try await eventually("every stored event readable") {
                quarantined = try await harness.store.readAll(after: .start).events
                return quarantined.contains { $0.globalPosition == head }
            }
            #expect(quarantined.allSatisfy { $0.eventType == "NotificationRejected" }, "only the refusal is stored")

            let notJSON = try await harness.client.post(LedgerAPI.ingestPath, body: Array("not json".utf8), token: token)
            #expect(notJSON.status == 400)
            #expect((try notJSON.json["StatusCode"] as? [String: Any])?["Code"] as? String == "022")
        }
    }

    @Test("tokens: none or unknown is 401/017, without ingest scope or for another operator is 403/017; a bad Idempotency-Key is 400")
    func authorization() async throws {
        try await Harness.with(projector: false) { harness in
            let body = NotificationBody.error(NotificationBody.newSession(), evse: "DE*B12*E1*1", operator: "DE*B12")
            func code(_ reply: Reply) throws -> String? { (try reply.json["StatusCode"] as? [String: Any])?["Code"] as? String }

            let missing = try await harness.client.post(LedgerAPI.ingestPath, body: Array(body.utf8))
            #expect(missing.status == 401)
            #expect(try code(missing) == "017")
            #expect(missing.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
            let unknown = try await harness.ingest(body, token: "led_" + String(repeating: "0", count: 32) + "_" + String(repeating: "1", count: 64))
            #expect(unknown.status == 401)

            let reader = try await harness.token([.read])
            let readOnly = try await harness.ingest(body, token: reader)
            #expect(readOnly.status == 403)
            #expect(try code(readOnly) == "017")

            let limited = try await harness.token([.ingest], operators: ["DE*A36"])
            let otherOperator = try await harness.ingest(body, token: limited)
            #expect(otherOperator.status == 403)
            #expect(try code(otherOperator) == "017")
            let refusedSession = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])["SessionID"] as! String
            #expect(try await harness.store.readStream(StreamName.session(refusedSession)).isEmpty, "nothing was recorded for refused tokens")
            let own = try await harness.ingest(NotificationBody.error(NotificationBody.newSession(), evse: "DE*A36*E1*1", operator: "DE*A36"), token: limited)
            #expect(own.status == 200)

            let writer = try await harness.token([.ingest])
            let badKey = try await harness.ingest(body, token: writer, headers: [("Idempotency-Key", "has space")])
            #expect(badKey.status == 400)
            #expect(try code(badKey) == "022")
        }
    }

    @Test("operators stay sealed off: a limited token writes only its operators' notifications at its operators' EVSEs, never joins another's session, and reads only its own")
    func crossOperatorWrites() async throws {
        try await Harness.with { harness in
            func code(_ reply: Reply) throws -> String? { (try reply.json["StatusCode"] as? [String: Any])?["Code"] as? String }
            func info(_ reply: Reply) throws -> String { (try reply.json["StatusCode"] as? [String: Any])?["AdditionalInfo"] as? String ?? "" }
            let a = try await harness.token([.ingest, .read], operators: ["DE*A36"])
            let b = try await harness.token([.ingest, .read], operators: ["DE*B12"])
            let hub = try await harness.token([.ingest, .read], operators: ["DE*HUB", "DE*SUB"])
            let evseA = NotificationBody.newEvse("DE*A36"), evseB = NotificationBody.newEvse("DE*B12")
            let sessionA = NotificationBody.newSession(), sessionB = NotificationBody.newSession()
            try await harness.ingestAll([NotificationBody.start(sessionB, evse: evseB, operator: "DE*B12")], token: b)
            try await harness.ingestAll([NotificationBody.start(sessionA, evse: evseA, operator: "DE*A36")], token: a)

            // A's own OperatorID at B's (public) EvseID: the token is the problem.
            let atOtherEvse = try await harness.ingest(NotificationBody.error(NotificationBody.newSession(), evse: evseB, operator: "DE*A36"), token: a)
            #expect(atOtherEvse.status == 403)
            #expect(try code(atOtherEvse) == "017")
            #expect(try info(atOtherEvse).contains("EvseID"), "\(atOtherEvse.body)")
            // A joining B's session with its own ids: the session belongs to its first notification.
            let joined = try await harness.ingest(NotificationBody.error(sessionB, evse: evseA, operator: "DE*A36"), token: a)
            #expect(joined.status == 400)
            #expect(try code(joined) == "022")
            #expect(try info(joined).contains("EvseID") && info(joined).contains("OperatorID"), "\(joined.body)")
            // Operators compare as OICP does: `*` optional, any case.
            try await harness.ingestAll([NotificationBody.error(sessionA, evse: evseA.replacingOccurrences(of: "DE*A36", with: "dea36"), operator: "DEA36")], token: a)
            // A hub partner sends its own OperatorID for its sub-operator's EVSEs, and no others.
            try await harness.ingestAll([NotificationBody.error(NotificationBody.newSession(), evse: "DE*SUB*E1*1", operator: "DE*HUB")], token: hub)
            #expect(try await harness.ingest(NotificationBody.error(NotificationBody.newSession(), evse: evseB, operator: "DE*HUB"), token: hub).status == 403)

            #expect(try await harness.store.readStream(StreamName.session(sessionB)).count == 1, "nothing joined B's session")
            let quarantined = try await harness.store.readStream(StreamName.quarantine(day: Date()))
            #expect(quarantined.count == 3, "each breach is quarantined")

            try await harness.caughtUp()
            #expect(try await harness.client.get("/v1/evses/\(evseB)/summary", token: b).status == 200, "B owns its EVSE")
            #expect(try await harness.client.get("/v1/evses/\(evseB)/summary", token: a).status == 404)
            #expect(try await harness.client.get("/v1/sessions/\(sessionB)", token: b).status == 200)
            #expect(try await harness.client.get("/v1/sessions/\(sessionB)", token: a).status == 404)
            #expect(try await harness.client.get("/v1/evses/\(evseA)/summary", token: a).status == 200)
            let feed = try await harness.client.get("/v1/errors", token: a).json["items"] as? [[String: Any]]
            #expect(feed?.compactMap { $0["evse_id"] as? String }.allSatisfy { $0.lowercased().hasPrefix("de*a36") || $0.lowercased().hasPrefix("dea36") } == true)
            #expect(feed?.count == 1)
        }
    }

    @Test("a keyless Error sent twice (a client retrying after a timeout) is one Error, the second a replay; X-Request-ID is kept only when short, else one is made")
    func keylessErrorRetryAndRequestID() async throws {
        try await Harness.with(projector: false) { harness in
            let token = try await harness.token([.ingest])
            let session = NotificationBody.newSession()
            let body = NotificationBody.error(session, evse: "DE*A36*E1*1", operator: "DE*A36", info: "RCD tripped")
            let first = try await harness.ingest(body, token: token, headers: [("X-Request-ID", "req-42")])
            let again = try await harness.ingest(body, token: token, headers: [("X-Request-ID", String(repeating: "r", count: 4000))])
            #expect(first.status == 200 && again.status == 200)
            #expect(again.body == first.body)
            #expect(again.headers["idempotent-replayed"] == "true")
            let other = try await harness.ingest(
                NotificationBody.error(session, evse: "DE*A36*E1*1", operator: "DE*A36", info: "other"), token: token,
                headers: [("X-Request-ID", String(repeating: "x", count: 4000))])
            #expect(other.status == 200 && other.headers["idempotent-replayed"] == nil)
            let events = try await harness.store.readStream("session-\(session)")
            #expect(events.count == 2, "the retry was stored once")
            #expect(events.first?.metadata.contains("req-42") == true)
            #expect(events.last.map { !$0.metadata.contains("xxxxxxxx") } == true, "an oversized X-Request-ID is not stored in every event")
            // It is replaced by an id of the ledger's, which the answer carries.
            let generated = try #require(other.headers["x-request-id"])
            #expect(generated.count == 36 && events.last?.metadata.contains(generated) == true)
            #expect(first.headers["x-request-id"] == "req-42")
        }
    }

    @Test("an address that keeps failing authentication gets 429 with Retry-After, before any token is looked up")
    func failedAuthenticationLimit() async throws {
        try await Harness.with(projector: false) { harness in
            let body = NotificationBody.error(NotificationBody.newSession(), evse: "DE*A36*E1*1", operator: "DE*A36")
            let unknown = "led_" + String(repeating: "0", count: 32) + "_" + String(repeating: "1", count: 64)
            var statuses: [Int] = []
            for _ in 0..<21 { statuses.append(try await harness.ingest(body, token: unknown).status) }
            #expect(statuses.prefix(20).allSatisfy { $0 == 401 }, "\(statuses)")
            #expect(statuses.last == 429)
            let limited = try await harness.ingest(body, token: unknown)
            #expect(limited.status == 429)
            #expect(Int(limited.headers["retry-after"] ?? "") ?? 0 > 0)
            #expect((try limited.json["StatusCode"] as? [String: Any])?["Code"] as? String == "017")
            // The address waits even with a good token: the limit is on the address.
            let good = try await harness.token([.ingest, .read])
            #expect(try await harness.ingest(body, token: good).status == 429)
            let read = try await harness.client.get("/v1/errors", token: good)
            #expect(read.status == 429)
            #expect((try read.json["error"] as? [String: Any])?["code"] as? String == "too_many_requests")
        }
    }

    @Test("a revoked token stops working once the cache entry expires")
    func revocation() async throws {
        try await Harness.with(projector: false) { harness in
            let name = "revoke-me"
            let (_, token) = try await harness.tokens.create(name: name, scopes: [.ingest])
            let body = NotificationBody.error(NotificationBody.newSession(), evse: "DE*A36*E1*1", operator: "DE*A36")
            #expect(try await harness.ingest(body, token: token).status == 200)
            try await harness.tokens.revoke(name: name)
            try await Task.sleep(for: .milliseconds(150))  // the harness's cache lives 100 ms
            #expect(try await harness.ingest(body, token: token).status == 401)
        }
    }
}
