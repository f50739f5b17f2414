import API
import Foundation
import Testing
import TestSupport

/// `POST /v1/admin/erasures` over a running forwarder and the fake Hubject: who may erase, what a
/// bad request is told, and what Hubject gets for a notification erased before it went.
@Suite("Erasure endpoint", .serialized)
struct ErasureEndpointTests {
    static func withIdentification(_ body: String, evcoID: String) -> String {
        String(body.dropLast()) + #","Identification":{"RemoteIdentification":{"EvcoID":"\#(evcoID)"}}}"#
    }

    @Test("an admin erases an EVCO-ID: 201 with its subject; a notification held back goes to Hubject without its Identification, another as received")
    func eraseBeforeForwarding() async throws {
        try await Harness.with(forwarding: true) { harness in
            let fake = try #require(harness.fake)
            let ingest = try await harness.token([.read, .ingest])
            let admin = try await harness.token([.admin])
            let limitedAdmin = try await harness.token([.admin], operators: ["DE*A36"])
            try fake.answer(["mode": "error500"])
            let (erased, kept) = (NotificationBody.newSession(), NotificationBody.newSession())
            let evse = NotificationBody.newEvse("DE*A36")
            try await harness.ingestAll(
                [
                    Self.withIdentification(NotificationBody.error(erased, evse: evse), evcoID: "DE-8EO-CAet5e4XY-3"),
                    Self.withIdentification(NotificationBody.error(kept, evse: evse), evcoID: "DE-8EO-CKEEPME01-7"),
                ],
                token: ingest
            )
            try await eventually(timeout: .seconds(30), "both tried once") {
                Set(try fake.requests().compactMap { $0["session_id"] as? String }).isSuperset(of: [erased, kept])
            }

            // Who may, and what a bad request is told.
            let body = Array(#"{"evco_id": "de8eocaet5e4xy3", "requested_by": "ticket DPO-17"}"#.utf8)
            #expect(try await harness.client.post("/v1/admin/erasures", body: body, token: ingest).status == 403, "needs admin")
            let limited = try await harness.client.post("/v1/admin/erasures", body: body, token: limitedAdmin)
            #expect(limited.status == 403 && limited.body.contains("limited to OperatorIDs"), "\(limited.body)")
            for (bad, field) in [
                (#"{"uid": "04A2", "evco_id": "DE8EO"}"#, "body"), (#"{}"#, "body"), (#"{"uid": "not hex"}"#, "uid"),
                (#"{"evco_id": 7}"#, "evco_id"), (#"{"uid": "04A2", "name": "x"}"#, "name"), ("[1]", "body"),
                (#"{"uid": "04A2", "requested_by": ""}"#, "requested_by"),
                (#"{"evco_id": "DE8EOCAET5E4XY3", "requested_by": "for de-8eo-caet5e4xy-3"}"#, "requested_by"),
            ] {
                let answer = try await harness.client.post("/v1/admin/erasures", body: Array(bad.utf8), token: admin)
                #expect(answer.status == 400 && answer.body.contains(#""field":"\#(field)""#), "\(bad): \(answer.body)")
            }

            let answer = try await harness.client.post("/v1/admin/erasures", body: body, token: admin)
            #expect(answer.status == 201, "\(answer.body)")
            #expect(try answer.json["keys_deleted"] as? Int == 1)
            #expect((try answer.json["subject"] as? String)?.isEmpty == false)
            #expect(!answer.body.uppercased().contains("8EO"), "the answer names no value")

            try fake.answer(["mode": "success"])
            try await eventually(timeout: .seconds(60), "both delivered") {
                // With the tests' short retry budget they may have become dead letters by now.
                let dead = try await harness.client.get("/v1/deliveries?state=dead", token: ingest).json["items"] as? [[String: Any]] ?? []
                for item in dead where [erased, kept].contains(item["session_id"] as? String ?? "") {
                    _ = try await harness.client.post("/v1/deliveries/\(item["id"] as? String ?? "")/retry", body: [], token: admin)
                }
                let delivered = try fake.requests().filter { ($0["mode"] as? String) == "success" }
                return Set(delivered.compactMap { $0["session_id"] as? String }).isSuperset(of: [erased, kept])
            }
            let sent = try fake.requests().filter { ($0["mode"] as? String) == "success" }
            let erasedBody = try #require(sent.first { $0["session_id"] as? String == erased }?["body"] as? String)
            let keptBody = try #require(sent.first { $0["session_id"] as? String == kept }?["body"] as? String)
            #expect(!erasedBody.contains("Identification") && !erasedBody.uppercased().contains("8EO"), "\(erasedBody)")
            #expect(erasedBody.contains(erased) && erasedBody.contains("ConnectorError"), "the rest of the notification goes")
            #expect(keptBody == Self.withIdentification(NotificationBody.error(kept, evse: evse), evcoID: "DE-8EO-CKEEPME01-7"), "byte for byte")
            // The delivery says so, in the session's timeline.
            var seen = ""
            do {
                try await eventually(timeout: .seconds(30), "the delivery in the timeline") {
                    seen = try await harness.client.get("/v1/sessions/\(erased)/timeline", token: ingest).body
                    // jsonb's text of the details: `"key": value`.
                    return seen.replacingOccurrences(of: " ", with: "").contains(#""without_identification":true"#)
                }
            } catch {
                Issue.record("timeline: \(seen)")
            }
            let other = try await harness.client.get("/v1/sessions/\(kept)/timeline", token: ingest)
            #expect(!other.body.contains("without_identification"), "\(other.body)")
        }
    }
}
