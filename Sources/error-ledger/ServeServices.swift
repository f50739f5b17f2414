import HTTPServer
import Logging
import ServiceLifecycle

/// The parts `serve` runs, as services of one `ServiceGroup`: the group starts them together and,
/// on SIGTERM or SIGINT, shuts them down one after the other in the reverse of their order, each
/// finished before the next is asked. Graceful shutdown is decided here and nowhere else.

/// A started HTTP server. On graceful shutdown: `beforeShutdown` (the live feeds end), then the
/// server stops accepting, finishes the requests in flight and closes.
struct HTTPServerService: Service, CustomStringConvertible {
    let description: String
    let server: Server
    var beforeShutdown: @Sendable () -> Void = {}

    func run() async throws {
        // Returns when the shutdown begins; throws when the group is cancelled instead.
        try? await gracefulShutdown()
        beforeShutdown()
        await server.shutdown()
    }
}

/// Work that runs until its task is cancelled (the projector, the forwarder): a graceful shutdown
/// cancels it, and it finishes what it was doing (a forwarding attempt's outcome is recorded).
struct UntilShutdownService: Service, CustomStringConvertible {
    let description: String
    let body: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
    }
}
