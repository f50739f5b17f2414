import EventStore
import Forwarding
import Foundation
import Ingestion
import Ledger
import Postgres
import Testing
import TestSupport

/// The forwarder end to end: notifications ingested into a real store, forwarded over mutual
/// TLS to the fake Hubject, outcomes recorded as events and delivery rows.
@Suite("Forwarder against the fake Hubject", .serialized)
struct ForwarderTests {
    /// A fresh database, a store, an ingestor, the fake, and a forwarder with fast retries and no
    /// rate limit, running.
    private func withForwarder(
        _ configuration: Forwarder.Configuration = .init(perMinute: nil, retry: RetryPolicy(base: .milliseconds(50), cap: .milliseconds(200), maxAttempts: 50)),
        _ body: (FakeHubject, Ingestor, EventStore) async throws -> Void
    ) async throws {
        let fake = try await FakeHubject.start()
        defer { fake.stop() }
        let url = try await TestDatabase.create()
        let store = try await EventStore.open(configuration: .init(url: url, poolSize: 6))
        defer { store.close() }
        let transport = try HubjectTransport(configuration: fake.configuration(timeout: .seconds(2)))
        defer { transport.close() }
        let forwarder = Forwarder(store: store, url: url, transport: transport, configuration: configuration)
        let running = Task { await forwarder.run() }
        do {
            try await body(fake, Ingestor(store: store), store)
        } catch {
            running.cancel()
            await running.value
            throw error
        }
        running.cancel()
        await running.value
    }

    private func ingest(_ ingestor: Ingestor, _ bodies: [String]) async throws {
        for body in bodies {
            let outcome = try await ingestor.ingest(Array(body.utf8), context: IngestContext(receivedAt: Date(), client: "test", source: "test"))
            guard case .appended = outcome.disposition else { throw TestFailure("not appended: \(outcome.disposition)") }
        }
    }

    private func session(_ id: String) -> [String] {
        let evse = "DE*A36*E1*1"
        return [
            #"{"Type":"Start","SessionID":"\#(id)","EvseID":"\#(evse)","ChargingStart":"2026-11-20T10:00:00+01:00","OperatorID":"DE*A36"}"#,
            #"{"Type":"Error","SessionID":"\#(id)","EvseID":"\#(evse)","ErrorType":"ConnectorError","OperatorID":"DE*A36"}"#,
            #"{"Type":"End","SessionID":"\#(id)","EvseID":"\#(evse)","ChargingStart":"2026-11-20T10:00:00+01:00","ChargingEnd":"2026-11-20T10:59:00+01:00","ConsumedEnergy":8.25,"OperatorID":"DE*A36"}"#,
        ]
    }

    private func deliveryStates(_ store: EventStore) async throws -> [String: Int] {
        try await store.pool.run { session in
            var counts: [String: Int] = [:]
            for row in try session.query("SELECT state, count(*)::int FROM forwarding.deliveries GROUP BY state").rows {
                counts[try row.decode(String.self, column: 0)] = try row.decode(Int.self, column: 1)
            }
            return counts
        }
    }

    /// The notification types Hubject answered with success, per session, in the order it got them.
    private func delivered(_ fake: FakeHubject) throws -> [String: [String]] {
        var bySession: [String: [String]] = [:]
        for request in try fake.requests() where request["mode"] as? String == "success" {
            bySession[request["session_id"] as? String ?? "", default: []].append(request["type"] as? String ?? "")
        }
        return bySession
    }

    @Test("every notification is delivered once, in order per session, and each outcome is an event")
    func delivers() async throws {
        try await withForwarder { fake, ingestor, store in
            try fake.answer(["mode": "success"])
            let sessions = (0..<4).map { _ in UUID().uuidString.lowercased() }
            for id in sessions { try await ingest(ingestor, session(id)) }
            try await eventually(timeout: .seconds(30), "all 12 delivered") { try await deliveryStates(store)["delivered"] == 12 }
            let got = try delivered(fake)
            for id in sessions { #expect(got[id] == ["Start", "Error", "End"], "session \(id): \(got[id] ?? [])") }
            let events = try await store.readStream("delivery-\(sessions[0])")
            #expect(events.map(\.eventType) == ["NotificationForwarded", "NotificationForwarded", "NotificationForwarded"])
            #expect(events.first?.data.contains(#""status_code": "000""#) == true || events.first?.data.contains(#""status_code":"000""#) == true)
        }
    }

    @Test("one at a time per session: while Hubject takes its time, nothing of the session is sent twice or ahead")
    func oneAtATime() async throws {
        try await withForwarder { fake, ingestor, store in
            try fake.answer(["mode": "slow", "delay": 0.5])  // longer than the 200 ms poll
            let id = UUID().uuidString.lowercased()
            try await ingest(ingestor, session(id))
            try await eventually(timeout: .seconds(30), "all 3 delivered") { try await deliveryStates(store)["delivered"] == 3 }
            let requests = try fake.requests()
            #expect(requests.map { $0["type"] as? String } == ["Start", "Error", "End"], "each once, in order")
            let times = requests.compactMap { $0["time"] as? Double }
            #expect(zip(times, times.dropFirst()).allSatisfy { $1 - $0 >= 0.45 }, "the next went only after the previous was answered: \(times)")
        }
    }

    @Test("Hubject down for a while: everything accepted meanwhile is delivered once it is back, in order, once each")
    func outage() async throws {
        try await withForwarder { fake, ingestor, store in
            try fake.answer(["mode": "error500", "code": "001"])
            let sessions = (0..<3).map { _ in UUID().uuidString.lowercased() }
            for id in sessions { try await ingest(ingestor, session(id)) }
            try await eventually(timeout: .seconds(30), "retries under way") { try await deliveryStates(store)["retrying"] ?? 0 >= 3 }
            try fake.answer(["mode": "success"])
            try await eventually(timeout: .seconds(30), "all 9 delivered") { try await deliveryStates(store)["delivered"] == 9 }
            let got = try delivered(fake)
            for id in sessions { #expect(got[id] == ["Start", "Error", "End"], "session \(id): \(got[id] ?? [])") }
            let failures = try await store.readStream("delivery-\(sessions[0])").filter { $0.eventType == "ForwardingAttemptFailed" }
            #expect(!failures.isEmpty)
            #expect(failures.first?.data.contains("001") == true)
        }
    }

    @Test("a closed session (400) is dead-lettered at once and the session's next notification still goes")
    func deadLetter() async throws {
        try await withForwarder { fake, ingestor, store in
            try fake.answer(["mode": "result_false", "code": "400"])
            let id = UUID().uuidString.lowercased()
            try await ingest(ingestor, [session(id)[0]])
            try await eventually(timeout: .seconds(30), "dead-lettered") { try await deliveryStates(store)["dead"] == 1 }
            try fake.answer(["mode": "success"])
            try await ingest(ingestor, [session(id)[1]])
            try await eventually(timeout: .seconds(30), "the next delivered") { try await deliveryStates(store)["delivered"] == 1 }
            let events = try await store.readStream("delivery-\(id)").map(\.eventType)
            #expect(events == ["NotificationDeadLettered", "NotificationForwarded"])
            #expect(try fake.requests().count == 2, "a dead letter is not retried")
        }
    }
}
