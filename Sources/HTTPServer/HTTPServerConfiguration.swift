import Foundation

/// Where the server listens and how long it waits.
///
/// | key | default | |
/// | --- | --- | --- |
/// | `host` | `127.0.0.1` | IPv4 or IPv6 address to bind (`::` for every interface, IPv4 too) |
/// | `port` | `8080` | 0 picks a free port (tests) |
/// | `limits` | `HTTPLimits()` | request sizes |
/// | `readDeadline` | 10 s | from a request's first byte to its last: 408 after |
/// | `idleTimeout` | 60 s | a kept-alive connection with no request: closed after |
/// | `writeTimeout` | 30 s | a response with bytes queued and none written for this long (a client that stopped reading a stream): closed, its stream cancelled |
/// | `eventLoops` | the number of cores | event loop threads; each has its own listening socket on the same address (`SO_REUSEPORT`: the kernel spreads new connections), its connections and its handlers |
/// | `maxConnections` | 1,024 | connections beyond are closed at once (across every loop) |
/// | `maxConnectionsPerAddress` | nil (no cap but `maxConnections`) | connections from one client address beyond get 503 and are closed (behind a proxy every client has its address; across every loop) |
/// | `backlog` | 512 | `listen(2)` backlog |
/// | `acceptRetryDelay` | 100 ms | after `accept` ran out of file descriptors (`EMFILE`, `ENFILE`): the listener rests this long (logged once per 10 s) |
/// | `lingerTimeout` | 2 s | after a refusal (4xx and close): the rest of the request is read and dropped this long at most, so closing does not reset the connection before the client reads the refusal (RFC 9112 §9.6) |
/// | `shutdownGrace` | 10 s | after `shutdown()`, responses still running then (a live feed) are cut |
/// | `inputLimit` | derived: request line + all headers + body + one 64 KiB read | unparsed bytes one connection may hold |
/// | `onRefusal` | nil | told of each answer the server gives itself, no handler seeing the request (malformed HTTP, 408, 413, 503 over a connection cap), on the loop threads (several at once): keep it short and thread-safe (an access-log line) |
public struct HTTPServerConfiguration: Sendable {
    /// An answer the server gave itself, without a handler.
    public struct Refusal: Sendable {
        public var status: Int
        public var reason: String
        public var clientAddress: String
    }

    public var host: String
    public var port: Int
    public var limits: HTTPLimits
    public var readDeadline: Duration
    public var idleTimeout: Duration
    public var writeTimeout: Duration
    public var eventLoops: Int
    public var maxConnections: Int
    public var maxConnectionsPerAddress: Int?
    public var backlog: Int32
    public var acceptRetryDelay: Duration
    public var lingerTimeout: Duration
    public var shutdownGrace: Duration
    public var onRefusal: (@Sendable (Refusal) -> Void)?

    public init(
        host: String = "127.0.0.1", port: Int = 8080, limits: HTTPLimits = HTTPLimits(), readDeadline: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(60), maxConnections: Int = 1024, backlog: Int32 = 512,
        shutdownGrace: Duration = .seconds(10), writeTimeout: Duration = .seconds(30),
        maxConnectionsPerAddress: Int? = nil, acceptRetryDelay: Duration = .milliseconds(100),
        lingerTimeout: Duration = .seconds(2), eventLoops: Int? = nil
    ) {
        self.eventLoops = max(1, eventLoops ?? ProcessInfo.processInfo.activeProcessorCount)
        self.host = host
        self.port = port
        self.limits = limits
        self.readDeadline = readDeadline
        self.idleTimeout = idleTimeout
        self.writeTimeout = writeTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.backlog = backlog
        self.acceptRetryDelay = acceptRetryDelay
        self.lingerTimeout = lingerTimeout
        self.shutdownGrace = shutdownGrace
    }

    /// The configuration as the server runs it: at least one event loop.
    var normalized: HTTPServerConfiguration {
        var configuration = self
        configuration.eventLoops = max(1, eventLoops)
        return configuration
    }

    /// Bytes read from a socket at once.
    static let readSize = 65_536

    /// The most unparsed bytes a connection holds (`InputBuffer.limit`). The loop reads no more
    /// than fits and parses after every read; the parser consumes a head line by line (refusing
    /// a line over its limit: 414/431) and a chunked body chunk by chunk (413 over the body
    /// limit), and waits for at most a `Content-Length` body (413 over the limit, before it is
    /// read). So a request within the limits always fits, and a client sending more than the
    /// limits allow gets its 414/431/413 and is closed, with no more than this buffered.
    public var inputLimit: Int {
        limits.requestLine + limits.headerBytes + limits.body + Self.readSize
    }
}
