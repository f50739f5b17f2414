/// Where the server listens and how long it waits.
///
/// | key | default | |
/// | --- | --- | --- |
/// | `host` | `127.0.0.1` | IPv4 address to bind |
/// | `port` | `8080` | 0 picks a free port (tests) |
/// | `limits` | `HTTPLimits()` | request sizes |
/// | `readDeadline` | 10 s | from a request's first byte to its last: 408 after |
/// | `idleTimeout` | 60 s | a kept-alive connection with no request: closed after |
/// | `maxConnections` | 1,024 | connections beyond are closed at once |
/// | `backlog` | 512 | `listen(2)` backlog |
/// | `shutdownGrace` | 10 s | after `shutdown()`, responses still running then (a live feed) are cut |
public struct HTTPServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var limits: HTTPLimits
    public var readDeadline: Duration
    public var idleTimeout: Duration
    public var maxConnections: Int
    public var backlog: Int32
    public var shutdownGrace: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 8080, limits: HTTPLimits = HTTPLimits(), readDeadline: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(60), maxConnections: Int = 1024, backlog: Int32 = 512,
        shutdownGrace: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.limits = limits
        self.readDeadline = readDeadline
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.backlog = backlog
        self.shutdownGrace = shutdownGrace
    }
}
