import API
import EventStore
import Forwarding
import Foundation
import HTTPServer
import HubjectTestSupport
import Ingestion
import Postgres
import Projections
import TestSupport
import Testing

/// The ledger's API served on a free loopback port, over a database of its own, with the
/// projector running (unless asked not to): the real parts, end to end.
struct Harness: Sendable {
    let url: String
    let store: EventStore
    let api: LedgerAPI
    let server: Server
    let client: HTTPClient
    let projector: Task<Void, Never>?
    let tokens: TokenStore
    /// With `forwarding`: the fake Hubject and the running forwarder.
    let fake: FakeHubject?
    let forwarding: Task<Void, Never>?

    static func start(
        configuration: LedgerAPI.Configuration = .init(tokenCacheTTL: .milliseconds(100)), projector: Bool = true, forwarding: Bool = false
    ) async throws -> Harness {
        let url = try await TestDatabase.create()
        let store = try await EventStore.open(configuration: .init(url: url, poolSize: 6))
        var fake: FakeHubject?
        var forwarder: Forwarder?
        if forwarding {
            let started = try await FakeHubject.start()
            fake = started
            let transport = try HubjectTransport(configuration: started.configuration(timeout: .seconds(2)))
            forwarder = Forwarder(
                store: store, url: url, transport: transport,
                configuration: .init(perMinute: nil, retry: RetryPolicy(base: .milliseconds(50), cap: .milliseconds(200)), pollInterval: .milliseconds(50))
            )
        }
        let api = LedgerAPI(store: store, ingestor: Ingestor(store: store), forwarder: forwarder, configuration: configuration)
        var limits = HTTPLimits()
        limits.body = 131_072  // as serve sets it
        // A grace well above what a stop takes on a busy machine, so that a test can tell a
        // stream ended by the shutdown from one cut at the deadline.
        let server = Server(configuration: .init(port: 0, limits: limits, shutdownGrace: .seconds(6)), handler: api.handler)
        let port = try server.start()
        let runner = projector
            ? Task { await Projector(store: store, configuration: .init(pollInterval: .milliseconds(100))).run() } : nil
        let forwarding = forwarder.map { forwarder in Task { await forwarder.run() } }
        return Harness(
            url: url, store: store, api: api, server: server, client: HTTPClient(port: port), projector: runner,
            tokens: TokenStore(pool: store.pool), fake: fake, forwarding: forwarding
        )
    }

    /// Runs `body` against a fresh harness and stops it afterwards, whatever `body` did.
    static func with(
        configuration: LedgerAPI.Configuration = .init(tokenCacheTTL: .milliseconds(100)), projector: Bool = true, forwarding: Bool = false,
        _ body: (Harness) async throws -> Void
    ) async throws {
        let harness = try await start(configuration: configuration, projector: projector, forwarding: forwarding)
        do {
            try await body(harness)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    func stop() async {
        api.stop()
        await server.shutdown()
        projector?.cancel()
        await projector?.value
        forwarding?.cancel()
        await forwarding?.value
        fake?.stop()
        store.close()
    }

    /// A new token's text.
    func token(_ scopes: Set<TokenScope> = [.read, .ingest], operators: [String]? = nil) async throws -> String {
        try await tokens.create(name: "t-\(UUID().uuidString.prefix(8))", scopes: scopes, operatorIDs: operators).1
    }

    /// Posts a notification to the ingest endpoint.
    func ingest(_ body: String, token: String, headers: [(String, String)] = []) async throws -> Reply {
        try await client.post(LedgerAPI.ingestPath, body: Array(body.utf8), token: token, headers: headers)
    }

    /// Posts notifications, failing unless each is acknowledged with `000`.
    func ingestAll(_ bodies: [String], token: String) async throws {
        for body in bodies {
            let reply = try await ingest(body, token: token)
            guard reply.status == 200 else { throw TestFailure("ingest answered \(reply.status): \(reply.body)") }
        }
    }

    /// Waits until both projections have applied every stored event.
    func caughtUp(timeout: Duration = .seconds(30)) async throws {
        try await eventually(timeout: timeout, "projections caught up") {
            try await ProjectionLag.read(TimelineProjection.all, store: store).allSatisfy { $0.pendingEvents == 0 }
        }
    }
}

/// `DE*A36*E1*1` percent-encoded as a client that escapes `*` sends it.
func percentEncoded(_ id: String) -> String {
    id.replacingOccurrences(of: "*", with: "%2A")
}
