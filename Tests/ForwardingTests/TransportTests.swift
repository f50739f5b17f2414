import Forwarding
import Foundation
import HubjectTestSupport
import OICP
import TestSupport
import Testing

/// The mutual-TLS transport against a real HTTPS server on loopback that demands a client
/// certificate (the fake Hubject), and the outcome rules over what it answers.
@Suite("Hubject transport over mutual TLS", .serialized)
struct TransportTests {
    static let body = Array(#"{"Type":"Error","SessionID":"8d571ee6-bb6f-4b1b-b82a-318c8866b4d0","EvseID":"DE*A36*E0002*1","ErrorType":"CriticalError","OperatorID":"DE*A36"}"#.utf8)

    private func withFake(_ body: (FakeHubject) async throws -> Void) async throws {
        let fake = try await FakeHubject.start()
        defer { fake.stop() }
        try await body(fake)
    }

    @Test("each scenario of the fake comes back as the outcome REFERENCE §9 names")
    func scenarios() async throws {
        try await withFake { fake in
            // 3 s, not 1 s: the first request's handshake with the fake (a Python process) can take
            // a while on a machine busy with every other suite. The slow scenario waits past it.
            let transport = try HubjectTransport(configuration: fake.configuration(timeout: .seconds(3)))
            defer { transport.close() }
            func outcome(_ scenario: [String: any Sendable]) async throws -> (TransportResult, DeliveryOutcome) {
                try fake.answer(scenario)
                let result = await transport.send(Self.body)
                return (result, DeliveryOutcome.classify(result))
            }

            let (sent, delivered) = try await outcome(["mode": "success"])
            guard case .delivered(let ack) = delivered, case .response(200, _, _, let latency) = sent else {
                Issue.record("success: \(delivered)")
                return
            }
            #expect(ack.sessionID == "8d571ee6-bb6f-4b1b-b82a-318c8866b4d0")
            #expect(latency < .seconds(3))
            let received = try fake.requests()
            #expect(received.last?["body"] as? String == String(decoding: Self.body, as: UTF8.self), "the original body, byte for byte")
            #expect(received.last?["path"] as? String == "/api/oicp/notificationmgmt/v11/charging-notifications")

            let (_, refused) = try await outcome(["mode": "result_false", "code": "102"])
            guard case .refusedByEMP(let refusal) = refused else { Issue.record("result_false: \(refused)"); return }
            #expect(refusal.statusCode.code == "102")

            let (_, closedSession) = try await outcome(["mode": "result_false", "code": "400"])
            guard case .deadLetter(let why) = closedSession else { Issue.record("code 400: \(closedSession)"); return }
            #expect(why.contains("code 400"))

            let (_, hubjectDown) = try await outcome(["mode": "error500", "code": "001"])
            guard case .retryable(let reason, nil) = hubjectDown else { Issue.record("error500: \(hubjectDown)"); return }
            #expect(reason.contains("HTTP 500") && reason.contains("001"))

            let (_, limited) = try await outcome(["mode": "rate429", "retry_after": 7])
            #expect(limited == .retryable(reason: "HTTP 429, not an eRoamingAcknowledgement: ", retryAfter: 7))

            let (timedOut, late) = try await outcome(["mode": "slow", "delay": 6])
            guard case .failure(.timeout, _) = timedOut, case .retryable = late else { Issue.record("slow: \(timedOut)"); return }

            let (reset, resetOutcome) = try await outcome(["mode": "reset"])
            guard case .failure(let kind, _) = reset, kind != .tls, case .retryable = resetOutcome else { Issue.record("reset: \(reset)"); return }

            let (_, garbage) = try await outcome(["mode": "garbage"])
            guard case .retryable(let html, _) = garbage else { Issue.record("garbage: \(garbage)"); return }
            #expect(html.contains("<html>"), "the body is kept in the reason")

            let (_, again) = try await outcome(["mode": "success"])
            guard case .delivered = again else { Issue.record("after a reset: \(again)"); return }
        }
    }

    @Test("a client certificate from another CA fails the handshake; no request reaches the server")
    func strangerRefused() async throws {
        try await withFake { fake in
            let transport = try HubjectTransport(configuration: fake.configuration(client: "stranger"))
            defer { transport.close() }
            try fake.answer(["mode": "success"])
            let result = await transport.send(Self.body)
            guard case .failure(let kind, let message) = result else { Issue.record("a stranger got through: \(result)"); return }
            #expect(kind == .tls || kind == .connection, "\(kind): \(message)")
            #expect(try fake.requests().isEmpty)
        }
    }

    @Test("a handshake that fails (a server certificate from an unknown CA, a server that closes mid-handshake) is a retryable failure; the next request goes through")
    func handshakeFailures() async throws {
        try await withFake { fake in
            let transport = try HubjectTransport(configuration: fake.configuration(timeout: .seconds(5)))
            defer { transport.close() }
            try fake.answer(["mode": "tls_unknown_ca"])
            let rogue = await transport.send(Self.body)
            guard case .failure(.tls, let message) = rogue else { Issue.record("an untrusted server certificate: \(rogue)"); return }
            guard case .retryable(let reason, nil) = DeliveryOutcome.classify(rogue) else { Issue.record("not retryable: \(rogue)"); return }
            #expect(reason.hasPrefix("tls: "), "\(reason)")
            #expect(!message.isEmpty)

            try fake.answer(["mode": "tls_close"])
            let cut = await transport.send(Self.body)
            guard case .failure(let kind, _) = cut, kind == .tls || kind == .connection else { Issue.record("a handshake cut short: \(cut)"); return }
            guard case .retryable = DeliveryOutcome.classify(cut) else { Issue.record("not retryable: \(cut)"); return }

            #expect(try fake.requests().allSatisfy { $0["handshake"] as? String == "failed" }, "no request got past a failed handshake")
            try fake.answer(["mode": "success"])
            guard case .delivered = DeliveryOutcome.classify(await transport.send(Self.body)) else { Issue.record("after the handshake failures"); return }
        }
    }

    @Test("an answer that drips one byte a second ends at the configured timeout, as a retryable timeout")
    func drip() async throws {
        try await withFake { fake in
            let transport = try HubjectTransport(configuration: fake.configuration(timeout: .seconds(3)))
            defer { transport.close() }
            try fake.answer(["mode": "drip", "interval": 1.0])
            let clock = ContinuousClock()
            let started = clock.now
            let result = await transport.send(Self.body)
            let elapsed = clock.now - started
            guard case .failure(.timeout, _) = result else { Issue.record("a dripping answer: \(result)"); return }
            #expect(elapsed >= .milliseconds(2500) && elapsed < .seconds(6), "ended by the 3 s timeout, not by the drip: \(elapsed)")
            guard case .retryable = DeliveryOutcome.classify(result) else { Issue.record("not retryable: \(result)"); return }
            try fake.answer(["mode": "success"])
            guard case .delivered = DeliveryOutcome.classify(await transport.send(Self.body)) else { Issue.record("after the drip"); return }
        }
    }

    @Test("an answer longer than the cap stops the transfer at the cap: a clear, retryable failure, long before the timeout")
    func oversized() async throws {
        try await withFake { fake in
            let transport = try HubjectTransport(configuration: fake.configuration(timeout: .seconds(8)))
            defer { transport.close() }
            let clock = ContinuousClock()
            // 10 MiB announced by Content-Length, and a chunked answer that never ends.
            for scenario: [String: any Sendable] in [["mode": "oversized", "size": 10 << 20], ["mode": "oversized", "chunked": true]] {
                try fake.answer(scenario)
                let started = clock.now
                let result = await transport.send(Self.body)
                let elapsed = clock.now - started
                guard case .failure(.oversized, let message) = result else { Issue.record("\(scenario): \(result) after \(elapsed)"); return }
                #expect(message.contains("65536 bytes") && message.contains("HTTP 200"), "\(message)")
                #expect(elapsed < .seconds(4), "stopped at the cap, not by the 8 s timeout: \(elapsed)")
                guard case .retryable(let reason, _) = DeliveryOutcome.classify(result) else { Issue.record("not retryable: \(result)"); return }
                #expect(reason.hasPrefix("oversized: "), "\(reason)")
            }
            try fake.answer(["mode": "success"])
            guard case .delivered = DeliveryOutcome.classify(await transport.send(Self.body)) else { Issue.record("after the oversized answers"); return }
        }
    }

    @Test("bad settings fail at start-up, naming the setting")
    func configuration() async throws {
        try await withFake { fake in
            var missing = fake.configuration()
            missing.clientKey = "/nonexistent/client.key"
            #expect(throws: TransportError.configuration("LEDGER_HUBJECT_CLIENT_KEY /nonexistent/client.key cannot be read (missing, or no permission)")) {
                try HubjectTransport(configuration: missing)
            }
            var swapped = fake.configuration()
            swapped.clientCertificate = swapped.clientKey
            #expect(throws: TransportError.self) { try HubjectTransport(configuration: swapped) }
            var plain = fake.configuration()
            plain.baseURL = "http://localhost:\(fake.port)/api/oicp"
            #expect(throws: TransportError.self) { try HubjectTransport(configuration: plain) }
        }
    }
}

/// The outcome rules without a network.
@Suite("Delivery outcome rules")
struct OutcomeTests {
    private func response(_ status: Int, _ json: String, retryAfter: Int? = nil) -> DeliveryOutcome {
        DeliveryOutcome.classify(.response(status: status, body: Array(json.utf8), retryAfter: retryAfter, latency: .milliseconds(5)))
    }

    private func ack(_ result: Bool, _ code: String) -> String {
        #"{"Result":\#(result),"StatusCode":{"Code":"\#(code)","Description":"x"}}"#
    }

    @Test("OICP codes: retryable, final, EMP refusals, success only with Result true and a 2xx")
    func codes() {
        for code in ["001", "002", "009", "021", "310"] {
            guard case .retryable = response(200, ack(false, code)) else { Issue.record("\(code) should be retryable"); return }
        }
        for code in ["400", "017", "018", "019", "022", "210", "300", "320"] {
            guard case .deadLetter = response(200, ack(false, code)) else { Issue.record("\(code) should be final"); return }
        }
        for code in ["101", "102", "105", "106", "200", "501", "603", "700"] {
            guard case .refusedByEMP = response(200, ack(false, code)) else { Issue.record("\(code) should be an EMP refusal"); return }
        }
        guard case .delivered = response(200, ack(true, "000")) else { Issue.record("000"); return }
        guard case .retryable = response(500, ack(true, "000")) else { Issue.record("000 on a 500 is not a delivery"); return }
        guard case .deadLetter = response(200, ack(true, "102")) else { Issue.record("Result true with another code"); return }
        // Hubject's 500 bodies omit Result (REFERENCE §2.3).
        guard case .retryable(_, 3) = response(500, #"{"StatusCode":{"Code":"001"}}"#, retryAfter: 3) else { Issue.record("500/001"); return }
    }

    @Test("bodies that are not acknowledgements: retryable on 2xx, 429 and 5xx; final on other 4xx (validation faults)")
    func nonOICP() {
        guard case .retryable = response(502, "<html>bad gateway</html>") else { Issue.record("502"); return }
        guard case .retryable(_, 10) = response(429, "", retryAfter: 10) else { Issue.record("429"); return }
        guard case .retryable = response(200, "{}") else { Issue.record("200 {}"); return }
        let fault = #"{"message":"Validation error","validationErrors":[{"fieldReference":"EvseID","errorMessage":"bad"}]}"#
        guard case .deadLetter(let reason) = response(400, fault) else { Issue.record("400 FaultBody"); return }
        #expect(reason.contains("validationErrors"))
        let long = String(repeating: "x", count: 2000)
        guard case .retryable(let kept, _) = response(503, long) else { Issue.record("503"); return }
        #expect(kept.count < 600, "the body is truncated in the reason")
        guard case .retryable = DeliveryOutcome.classify(.failure(.timeout, "Operation timed out")) else { Issue.record("timeout"); return }
    }
}
