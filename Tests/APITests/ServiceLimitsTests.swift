@testable import API
import EventStore
import Foundation
import HTTPServer
import Ingestion
import Synchronization
import Testing
import TestSupport

/// A value tasks share in a test.
private final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func with<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}

/// No single client takes the service down: figures read once a second, feeds bounded.
@Suite("Service limits", .serialized)
struct ServiceLimitsTests {
    @Test("a figure is read once for any number of concurrent askers, and again only after its age")
    func recentValue() async throws {
        let reads = Shared(0)
        let clock = Shared(ContinuousClock.now)
        let figure = RecentValue(maxAge: .seconds(1), now: { clock.with { $0 } }) { () async throws -> Int in
            try await Task.sleep(for: .milliseconds(50))  // a query in flight while the others ask
            return reads.with { $0 += 1; return $0 }
        }
        let answers = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<50 { group.addTask { try await figure.get() } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(Set(answers) == [1])
        #expect(reads.with { $0 } == 1, "fifty askers, one read")
        clock.with { $0 += .milliseconds(999) }
        #expect(try await figure.get() == 1)
        clock.with { $0 += .milliseconds(1) }
        #expect(try await figure.get() == 2, "read again once a second passed")
    }

    @Test("the gate lets at most its width through at once")
    func gate() async throws {
        let gate = AsyncGate(width: 2)
        let inside = Shared((now: 0, most: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    try await gate.run {
                        inside.with { $0.now += 1; $0.most = max($0.most, $0.now) }
                        try await Task.sleep(for: .milliseconds(10))
                        inside.with { $0.now -= 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(inside.with { $0.most } == 2)
    }

    @Test("live feeds are capped per token and in all; a closed feed frees its place")
    func liveFeedCaps() async throws {
        let store = try await EventStore.open(configuration: .init(url: try await TestDatabase.create(), poolSize: 2))
        defer { store.close() }
        let feed = LiveFeed(
            store: store, heartbeat: .seconds(15), limits: .init(maxStreams: 3, maxStreamsPerToken: 2, concurrentReads: 1)
        )
        let filter = LiveFeed.Filter(operatorIDs: nil, errorTypes: [])
        let a = UUID(), b = UUID()
        var open = [try feed.stream(after: .start, filter: filter, token: a), try feed.stream(after: .start, filter: filter, token: a)]
        let perToken = try #require(throws: APIProblem.self) { try feed.stream(after: .start, filter: filter, token: a) }
        #expect(perToken.status == 429)
        open.append(try feed.stream(after: .start, filter: filter, token: b))
        let overall = try #require(throws: APIProblem.self) { try feed.stream(after: .start, filter: filter, token: b) }
        #expect(overall.status == 503)
        #expect(feed.subscriberCount == 3)
        open.removeFirst()  // a client went away: its stream is released
        #expect(feed.subscriberCount == 2)
        open.append(try feed.stream(after: .start, filter: filter, token: a))
        #expect(open.count == 3)
    }

    @Test("with an admin listener, /metrics leaves the main one; the admin one serves probes and metrics, nothing else")
    func adminListener() async throws {
        let url = try await TestDatabase.create()
        let store = try await EventStore.open(configuration: .init(url: url, poolSize: 2))
        defer { store.close() }
        let api = LedgerAPI(store: store, ingestor: Ingestor(store: store), configuration: .init(metricsOnMainListener: false))
        func get(_ handler: HTTPHandler, _ path: String) async -> Int {
            await handler(HTTPRequest(head: HTTPRequestHead(method: "GET", target: path, version: .http1_1, headers: HTTPHeaders(), framing: .none), body: [])).status
        }
        #expect(await get(api.handler, "/metrics") == 404)
        #expect(await get(api.handler, "/healthz") == 200)
        #expect(await get(api.adminHandler, "/metrics") == 200)
        #expect(await get(api.adminHandler, "/healthz") == 200)
        #expect(await get(api.adminHandler, "/v1/errors") == 404, "no ledger data on the admin listener")
    }
}
