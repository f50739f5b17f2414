import EventStore
import Forwarding
import Foundation
import Logging
import HubjectTestSupport
import Ingestion
import Ledger
import Postgres
import Synchronization
import TestSupport
import Testing

/// A clock the test moves: the forwarder's pacing decisions follow it, not real time.
final class ManualClock: ForwardingClock {
    private let instant: Mutex<Date>

    init(_ start: Date = Date()) { instant = Mutex(start) }

    func now() -> Date { instant.withLock { $0 } }

    func advance(seconds: Double) { instant.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// The forwarder end to end: notifications ingested into a real store, forwarded over mutual
/// TLS to the fake Hubject, outcomes recorded as events and delivery rows.
@Suite("Forwarder against the fake Hubject", .serialized)
struct ForwarderTests {
    /// The fake, a fresh database and its store, and a transport to the fake.
    private func withStore(_ body: (FakeHubject, String, EventStore, HubjectTransport) async throws -> Void) async throws {
        let fake = try await FakeHubject.start()
        defer { fake.stop() }
        let url = try await TestDatabase.create()
        let store = try await EventStore.open(configuration: .init(url: url, poolSize: 6))
        defer { store.close() }
        let transport = try HubjectTransport(configuration: fake.configuration(timeout: .seconds(2)))
        defer { transport.close() }
        try await body(fake, url, store, transport)
    }

    /// As `withStore`, with an ingestor and a forwarder (fast retries, no rate limit) running.
    private func withForwarder(
        _ configuration: Forwarder.Configuration = .init(perMinute: nil, retry: RetryPolicy(base: .milliseconds(50), cap: .milliseconds(200), maxAttempts: 50)),
        logger: Logger = Logger(label: "forwarder"), _ body: (FakeHubject, Ingestor, EventStore) async throws -> Void
    ) async throws {
        try await withStore { fake, url, store, transport in
            try await run(Forwarder(store: store, url: url, transport: transport, configuration: configuration, logger: logger)) {
                try await body(fake, Ingestor(store: store), store)
            }
        }
    }

    private func run(_ forwarder: Forwarder, _ body: () async throws -> Void) async throws {
        let running = Task { await forwarder.run() }
        do {
            try await body()
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

    private func progress(_ id: String, minute: Int) -> String {
        let evse = "DE*A36*E1*1"
        return #"{"Type":"Progress","SessionID":"\#(id)","EvseID":"\#(evse)","ChargingStart":"2026-11-20T10:00:00+01:00","EventOccurred":"2026-11-20T10:\#(String(format: "%02d", minute)):00+01:00","ConsumedEnergyProgress":\#(minute).5,"OperatorID":"DE*A36"}"#
    }

    @Test("Hubject gets the notification's bytes as they were received, not a re-serialisation")
    func originalBytes() async throws {
        try await withForwarder { fake, ingestor, store in
            let id = UUID().uuidString.lowercased()
            // Key order, whitespace and number spelling that PostgreSQL's jsonb would normalise.
            let body = "{ \"SessionID\" : \"\(id)\",\n  \"Type\":\"End\", \"EvseID\":\"DE*A36*E1*1\", \"ChargingEnd\":\"2026-11-20T10:59:00+01:00\",\n"
                + "  \"ConsumedEnergy\": 8.250, \"MeterValueEnd\": 1.2345E3, \"OperatorID\":\"DE*A36\" }"
            try await ingest(ingestor, [body])
            try await eventually(timeout: .seconds(30), "delivered") { try await deliveryStates(store)["delivered"] == 1 }
            #expect(try fake.requests().first?["body"] as? String == body)
        }
    }

    @Test("pacing through the forwarder under a manual clock: a Progress waits its 5 minutes, only the newest held one goes")
    func progressPacedByClock() async throws {
        let clock = ManualClock()
        let configuration = Forwarder.Configuration(perMinute: nil, pollInterval: .milliseconds(50), clock: clock)
        try await withForwarder(configuration) { fake, ingestor, store in
            let id = UUID().uuidString.lowercased()
            try await ingest(ingestor, [session(id)[0], progress(id, minute: 5)])
            try await eventually(timeout: .seconds(30), "the Start and the first Progress delivered") { try await deliveryStates(store)["delivered"] == 2 }
            clock.advance(seconds: 60)
            try await ingest(ingestor, [progress(id, minute: 6), progress(id, minute: 7)])
            try await Task.sleep(for: .seconds(1))
            #expect(try fake.requests().count == 2, "nothing more inside the window")
            clock.advance(seconds: 239.5)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try fake.requests().count == 2, "still nothing half a second before the window opens")
            clock.advance(seconds: 1)
            try await eventually(timeout: .seconds(30), "the newest Progress delivered") { try await deliveryStates(store)["delivered"] == 3 }
            let requests = try fake.requests()
            #expect(requests.count == 3)
            #expect((requests.last?["body"] as? String)?.contains("10:07:00") == true, "the newest held Progress went")
            // The superseded record and the newest Progress's outcome commit independently: wait
            // for the record rather than expect it the moment the outcome is in.
            try await eventually(timeout: .seconds(30), "the held Progress recorded as superseded") { try await deliveryStates(store)["superseded"] == 1 }
            let types = try await store.readStream("delivery-\(id)").map(\.eventType)
            #expect(types.sorted() == ["NotificationForwarded", "NotificationForwarded", "NotificationForwarded", "NotificationSuperseded"])
        }
    }

    @Test("the rate limit through the forwarder under a manual clock: one per 0.6 s at 100/min, a backlog is not a burst")
    func rateLimitedByClock() async throws {
        let clock = ManualClock()
        let configuration = Forwarder.Configuration(perMinute: 100, pollInterval: .milliseconds(50), clock: clock)
        try await withForwarder(configuration) { fake, ingestor, store in
            let sessions = (0..<5).map { _ in UUID().uuidString.lowercased() }
            for id in sessions { try await ingest(ingestor, [session(id)[1]]) }
            try await eventually(timeout: .seconds(30), "the first delivered") { try await deliveryStates(store)["delivered"] == 1 }
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await deliveryStates(store)["delivered"] == 1, "no second token before 0.6 s on the clock")
            for sent in 2...5 {
                clock.advance(seconds: 0.6)
                try await eventually(timeout: .seconds(30), "\(sent) delivered") { try await deliveryStates(store)["delivered"] == sent }
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await deliveryStates(store)["delivered"] == sent, "one token per 0.6 s")
            }
        }
    }

    @Test("a notification committed late with a lower position than ones taken in before it is still delivered")
    func lateCommitLowerPosition() async throws {
        var configuration = Forwarder.Configuration(perMinute: nil, pollInterval: .milliseconds(50))
        configuration.batchSize = 1
        try await withForwarder(configuration) { fake, ingestor, store in
            // Transaction A gets its transaction id first, B appends (a lower position) and
            // commits, then A appends and commits: the gap-safe order is A, B; positions B < A.
            let early = try await PostgresConnection.connect(store.pool.configuration.url, applicationName: "test-late-commit")
            let a = UUID().uuidString.lowercased()
            let b = UUID().uuidString.lowercased()
            try await early.run { session in
                _ = try session.query("BEGIN")
                _ = try session.query("SELECT pg_current_xact_id()")
            }
            try await ingest(ingestor, [session(b)[1]])
            let data = #"{"session_id":"\#(a)","body":"{\"Type\":\"Error\",\"SessionID\":\"\#(a)\",\"EvseID\":\"DE*A36*E1*1\",\"ErrorType\":\"ConnectorError\",\"OperatorID\":\"DE*A36\"}"}"#
            let events = #"[{"id":"\#(UUID().uuidString.lowercased())","type":"ChargingErrorReported","data":\#(data),"metadata":{}}]"#
            try await early.run { session in
                _ = try session.query("SELECT * FROM ledger.append_one(\("session-" + a), NULL::integer, \(events)::jsonb)")
                _ = try session.query("COMMIT")
            }
            try await eventually(timeout: .seconds(30), "both delivered") { try await deliveryStates(store)["delivered"] == 2 }
            let positions = try await store.pool.run { session in
                try session.query("SELECT session_id, position FROM forwarding.deliveries ORDER BY intake_seq").rows.map { try $0.decode(String.self, column: 0) }
            }
            #expect(positions == [a, b], "taken in as A, B (so the test made the case it means to)")
        }
    }

    @Test("one forwarder is active across instances; when its connection dies the standby takes over and delivers")
    func takeover() async throws {
        try await withStore { fake, url, store, transport in
            let configuration = Forwarder.Configuration(perMinute: nil, pollInterval: .milliseconds(50), standbyRetry: .milliseconds(100))
            let first = Forwarder(store: store, url: url, transport: transport, configuration: configuration)
            let second = Forwarder(store: store, url: url, transport: transport, configuration: configuration)
            try await run(first) {
                try await eventually(timeout: .seconds(20), "the first active") { first.role == .active }
                try await run(second) {
                    try await eventually(timeout: .seconds(20), "the second standing by") { second.role == .standby }
                    let ingestor = Ingestor(store: store)
                    let before = UUID().uuidString.lowercased()
                    try await ingest(ingestor, session(before))
                    try await eventually(timeout: .seconds(30), "delivered by the first") { try await deliveryStates(store)["delivered"] == 3 }
                    #expect(second.role == .standby, "never two active")

                    // The active forwarder's connection dies (its process would have): the lock goes with it.
                    try await store.pool.run { session in
                        _ = try session.query(
                            """
                            SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                             WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'error-ledger-forwarder'
                               AND a.datname = current_database()
                            """
                        )
                    }
                    try await eventually(timeout: .seconds(20), "the second took over") { second.role == .active }
                    try await eventually(timeout: .seconds(20), "the first stands by") { first.role == .standby }
                    let after = UUID().uuidString.lowercased()
                    try await ingest(ingestor, session(after))
                    try await eventually(timeout: .seconds(30), "delivered by the second") { try await deliveryStates(store)["delivered"] == 6 }
                    let got = try delivered(fake)
                    #expect(got[before] == ["Start", "Error", "End"] && got[after] == ["Start", "Error", "End"], "each once, in order: \(got)")
                }
            }
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

    @Test("a 429 pauses every session until its Retry-After, not just the one that got it")
    func rateLimitedByHubject() async throws {
        let configuration = Forwarder.Configuration(
            // The cap bounds how long a Retry-After is honoured, so it is above the 2 s asked for.
            maxInFlight: 1, perMinute: nil, retry: RetryPolicy(base: .milliseconds(50), cap: .seconds(5)), pollInterval: .milliseconds(50)
        )
        try await withForwarder(configuration) { fake, ingestor, store in
            try fake.answer(["mode": "rate429", "retry_after": 2])
            let sessions = (0..<3).map { _ in UUID().uuidString.lowercased() }
            for id in sessions { try await ingest(ingestor, [session(id)[1]]) }
            try await eventually(timeout: .seconds(30), "the first 429") { try fake.requests().count >= 1 }
            try await Task.sleep(for: .milliseconds(1200))
            #expect(try fake.requests().count == 1, "nothing else went during the pause")
            try fake.answer(["mode": "success"])
            try await eventually(timeout: .seconds(30), "all delivered after the pause") { try await deliveryStates(store)["delivered"] == 3 }
            let times = try fake.requests().compactMap { $0["time"] as? Double }
            #expect(times.count == 4 && times[1] - times[0] >= 1.9, "the next request waited out Retry-After: \(times)")
        }
    }

    @Test("Hubject misbehaving (an unknown CA, a handshake cut short, a drip, an endless answer): each attempt a recorded retryable failure, then delivered")
    func misbehaving() async throws {
        let cases: [(scenario: [String: any Sendable], reasons: [String])] = [
            (["mode": "tls_unknown_ca"], ["tls: "]),
            (["mode": "tls_close"], ["tls: ", "connection: "]),
            (["mode": "drip", "interval": 1.0], ["timeout: "]),
            (["mode": "oversized", "chunked": true], ["oversized: "]),
        ]
        try await withForwarder { fake, ingestor, store in
            for (scenario, reasons) in cases {
                try fake.answer(scenario)
                let id = UUID().uuidString.lowercased()
                try await ingest(ingestor, [session(id)[1]])
                var failures: [RecordedEvent] = []
                try await eventually(timeout: .seconds(30), "\(scenario): a failed attempt recorded") {
                    failures = try await store.readStream("delivery-\(id)").filter { $0.eventType == "ForwardingAttemptFailed" }
                    return !failures.isEmpty
                }
                let reason = (try? JSONSerialization.jsonObject(with: Data(failures[0].data.utf8)) as? [String: Any])?["reason"] as? String ?? ""
                #expect(reasons.contains { reason.hasPrefix($0) }, "\(scenario): \(reason)")
                try fake.answer(["mode": "success"])
                try await eventually(timeout: .seconds(30), "\(scenario): delivered once Hubject behaves") {
                    try await store.readStream("delivery-\(id)").last?.eventType == "NotificationForwarded"
                }
            }
            #expect(try await deliveryStates(store) == ["delivered": cases.count])
        }
    }

    @Test("a closed session (400) is dead-lettered at once, logged at warning with its cause, and the session's next notification still goes")
    func deadLetter() async throws {
        let logs = CapturedLogs()
        try await withForwarder(logger: logs.logger()) { fake, ingestor, store in
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
            let warnings = logs.all.filter { $0.level == .warning && $0.message == "a notification became a dead letter" }
            #expect(warnings.count == 1)
            #expect(warnings.first?.metadata["session_id"] == id && warnings.first?.metadata["status_code"] == "400", "\(warnings)")
            #expect(warnings.first?.metadata["reason"]?.contains("400") == true, "\(warnings)")
        }
    }
}
