import CEpoll
import Foundation
import Glibc

/// One connection, owned by the loop thread (never shared, so it needs no lock).
private final class Connection {
    enum Phase {
        /// Waiting for a request (kept alive) since the instant.
        case idle(ContinuousClock.Instant)
        /// Part of a request has arrived; its first byte at the instant.
        case reading(ContinuousClock.Instant)
        /// The handler has the request.
        case handling
        /// The response is being written (`complete`: all of it is queued).
        case responding(complete: Bool)
    }

    let id: UInt64
    let fd: Int32
    var parser: HTTPRequestParser
    var input: [UInt8] = []
    var output: [UInt8] = []
    var written = 0
    var phase: Phase
    /// The request being answered.
    var head: HTTPRequestHead?
    /// Close once the current response is written.
    var closeAfterResponse = false
    /// The epoll events currently registered.
    var interest: UInt32 = 0

    init(id: UInt64, fd: Int32, limits: HTTPLimits, now: ContinuousClock.Instant) {
        self.id = id
        self.fd = fd
        self.parser = HTTPRequestParser(limits: limits)
        self.phase = .idle(now)
    }
}

/// The event loop: accepts, reads, parses, dispatches, writes, times out. Runs on its own thread.
struct EventLoop {
    private let server: Server
    private let executor: LoopExecutor
    private let epoll: Int32
    private var listener: Int32
    private let wake: Int32
    private let clock = ContinuousClock()
    private var connections: [Int32: Connection] = [:]
    private var byID: [UInt64: Connection] = [:]
    private var nextID: UInt64 = 1
    private var shuttingDown = false
    /// When a shutdown stops waiting for responses still in flight.
    private var shutdownDeadline: ContinuousClock.Instant?
    private var readBuffer = [UInt8](repeating: 0, count: 65_536)

    private static let readable = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
    /// epoll keys of the listening socket and the wake-up eventfd; connections use their ids.
    private static let listenerKey = UInt64.max
    private static let wakeKey = UInt64.max - 1
    private static let writable = EPOLLOUT.rawValue

    init(server: Server, executor: LoopExecutor, epoll: Int32, listener: Int32, wake: Int32) {
        self.server = server
        self.executor = executor
        self.epoll = epoll
        self.listener = listener
        self.wake = wake
    }

    mutating func run() {
        register(listener, key: Self.listenerKey, EPOLLIN.rawValue, add: true)
        register(wake, key: Self.wakeKey, EPOLLIN.rawValue, add: true)
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var lastSweep = clock.now
        while !(shuttingDown && connections.isEmpty) {
            let timeout: Int32 = executor.hasPending ? 0 : 100
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, Int32($0.count), timeout) }
            if count < 0 && errno != EINTR {
                server.log.error("epoll_wait failed", metadata: ["error": "\(String(cString: strerror(errno)))"])
                break
            }
            for index in 0..<max(0, Int(count)) {
                let event = events[index]
                // Events carry the connection's id, not its fd: an event returned for a connection
                // closed earlier in this batch must not reach a new one that got the same fd.
                let key = event.data.u64
                if key == Self.listenerKey {
                    acceptAll()
                } else if key == Self.wakeKey {
                    var value: UInt64 = 0
                    _ = read(wake, &value, 8)
                } else if let connection = byID[key] {
                    // Reported whatever the interest: the peer is gone, and a pending response
                    // with it.
                    if event.events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                        drop(connection)
                        continue
                    }
                    if event.events & EPOLLOUT.rawValue != 0 { flush(connection) }
                    if event.events & Self.readable != 0, byID[key] === connection { receive(connection) }
                }
            }
            // Handler tasks run here, between socket events; what they answer is written at once.
            var rounds = 0
            repeat {
                executor.runPending()
                for message in server.takeInbox() { handle(message) }
                rounds += 1
            } while executor.hasPending && rounds < 16
            if clock.now - lastSweep >= .milliseconds(100) {
                lastSweep = clock.now
                sweep()
            }
        }
        for connection in Array(connections.values) { drop(connection) }
        if listener >= 0 { close(listener) }
    }

    // MARK: - Accepting

    private mutating func acceptAll() {
        while let fd = Socket.accept(listener) {
            guard !shuttingDown, connections.count < server.configuration.maxConnections else {
                close(fd)
                continue
            }
            let connection = Connection(id: nextID, fd: fd, limits: server.configuration.limits, now: clock.now)
            nextID += 1
            connections[fd] = connection
            byID[connection.id] = connection
            connection.interest = Self.readable
            register(fd, key: connection.id, Self.readable, add: true)
        }
    }

    // MARK: - Reading

    /// Reads, unless the connection's response is pending: pipelined requests wait in the
    /// socket until it is written.
    private mutating func receive(_ connection: Connection) {
        switch connection.phase {
        case .idle, .reading: readAvailable(connection)
        case .handling, .responding: break
        }
    }

    private mutating func readAvailable(_ connection: Connection) {
        while true {
            let received = readBuffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if received > 0 {
                if case .idle = connection.phase { connection.phase = .reading(clock.now) }
                connection.input.append(contentsOf: readBuffer[0..<received])
                if received < readBuffer.count { break }
            } else if received == 0 {
                return drop(connection)  // the peer closed
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                break
            } else if errno == EINTR {
                continue
            } else {
                return drop(connection)
            }
        }
        process(connection)
    }

    /// Parses what has arrived and starts the next request, if whole.
    private mutating func process(_ connection: Connection) {
        switch connection.phase {
        case .idle:
            // A pipelined request already buffered: its read deadline runs from now.
            if !connection.input.isEmpty { connection.phase = .reading(clock.now) }
        case .reading: break
        default: return
        }
        do {
            while let event = try connection.parser.parse(&connection.input) {
                switch event {
                case .head(let head):
                    if head.expectsContinue {
                        connection.output += HTTPResponseWriter.head(HTTPResponse(status: 100), version: .http1_1, keepAlive: true)
                        flush(connection)
                    }
                case .request(let request):
                    connection.head = request.head
                    connection.closeAfterResponse = !request.head.keepAlive || shuttingDown
                    connection.phase = .handling
                    updateInterest(connection)
                    server.dispatch(request, connection: connection.id)
                    return
                }
            }
            if connection.input.isEmpty, case .reading = connection.phase, !connection.parserMidRequest {
                connection.phase = .idle(clock.now)
            }
        } catch {
            refuse(connection, status: error.status, reason: error.reason)
        }
    }

    /// Answers a broken request and closes (RFC 9112 §9.3: after a framing error the connection
    /// cannot be trusted).
    private mutating func refuse(_ connection: Connection, status: Int, reason: String) {
        connection.closeAfterResponse = true
        connection.head = nil
        connection.phase = .responding(complete: true)
        connection.input = []
        let response = HTTPResponse.text(status, reason + "\n")
        connection.output += HTTPResponseWriter.head(response, version: .http1_1, keepAlive: false)
        if case .bytes(let body) = response.body { connection.output += body }
        updateInterest(connection)
        flush(connection)
    }

    // MARK: - Responses from handlers

    private mutating func handle(_ message: Server.Message) {
        switch message {
        case .shutdown:
            shuttingDown = true
            shutdownDeadline = clock.now + server.configuration.shutdownGrace
            if listener >= 0 {
                close(listener)
                listener = -1
            }
            for connection in Array(connections.values) {
                if case .idle = connection.phase { drop(connection) } else { connection.closeAfterResponse = true }
            }
        case .response(let id, let response):
            guard let connection = byID[id], case .handling = connection.phase else { return server.connectionClosed(id) }
            let head = connection.head
            let version = head?.version ?? .http1_1
            let headRequest = head?.method == "HEAD"
            var keepAlive = !connection.closeAfterResponse && !shuttingDown
            if response.body.isStream, version == .http1_0 { keepAlive = false }
            connection.closeAfterResponse = !keepAlive
            connection.output += HTTPResponseWriter.head(response, version: version, keepAlive: keepAlive, headRequest: headRequest)
            let bodiless = headRequest || response.status < 200 || response.status == 204 || response.status == 304
            switch response.body {
            case .bytes(let body):
                if !bodiless { connection.output += body }
                connection.phase = .responding(complete: true)
            case .stream, .failableStream:
                connection.phase = .responding(complete: bodiless)
            }
            flush(connection)
        case .chunk(let id, let piece):
            guard let connection = byID[id], case .responding(complete: false) = connection.phase else { return server.connectionClosed(id) }
            connection.output += connection.head?.version == .http1_0 ? piece : HTTPResponseWriter.chunk(piece)
            flush(connection)
        case .abort(let id):
            // Whatever is queued goes out, then the connection closes without the last chunk.
            guard let connection = byID[id], case .responding(complete: false) = connection.phase else { return }
            connection.phase = .responding(complete: true)
            connection.closeAfterResponse = true
            flush(connection)
        case .end(let id):
            guard let connection = byID[id], case .responding(complete: false) = connection.phase else { return }
            if connection.head?.version != .http1_0 { connection.output += HTTPResponseWriter.lastChunk }
            connection.phase = .responding(complete: true)
            flush(connection)
        }
    }

    // MARK: - Writing

    private mutating func flush(_ connection: Connection) {
        while connection.written < connection.output.count {
            let sent = connection.output.withUnsafeBytes { bytes in
                send(connection.fd, bytes.baseAddress! + connection.written, bytes.count - connection.written, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 {
                connection.written += sent
            } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return updateInterest(connection)
            } else if sent < 0 && errno == EINTR {
                continue
            } else {
                return drop(connection)
            }
        }
        connection.output.removeAll(keepingCapacity: true)
        connection.written = 0
        if case .responding(complete: false) = connection.phase { server.outputDrained(connection.id) }
        if case .responding(complete: true) = connection.phase {
            if connection.closeAfterResponse { return drop(connection) }
            connection.head = nil
            connection.phase = .idle(clock.now)
            // A pipelined request may be waiting in the buffer or the socket.
            updateInterest(connection)
            process(connection)
            if byID[connection.id] === connection, case .idle = connection.phase { readAvailable(connection) }
            return
        }
        updateInterest(connection)
    }

    // MARK: - Deadlines

    private mutating func sweep() {
        let now = clock.now
        if let deadline = shutdownDeadline, now >= deadline {
            // Streams that never end on their own (live feeds) and clients that do not read.
            for connection in Array(connections.values) { drop(connection) }
            return
        }
        for connection in Array(connections.values) {
            switch connection.phase {
            case .idle(let since) where now - since >= server.configuration.idleTimeout || shuttingDown:
                drop(connection)
            case .reading(let since) where now - since >= server.configuration.readDeadline:
                refuse(connection, status: 408, reason: "the request was not complete within \(server.configuration.readDeadline)")
            default:
                break
            }
        }
    }

    // MARK: - epoll

    private mutating func updateInterest(_ connection: Connection) {
        var wanted: UInt32 = 0
        switch connection.phase {
        case .idle, .reading: wanted |= Self.readable
        default: break
        }
        if connection.written < connection.output.count { wanted |= Self.writable }
        guard wanted != connection.interest else { return }
        connection.interest = wanted
        register(connection.fd, key: connection.id, wanted, add: false)
    }

    private func register(_ fd: Int32, key: UInt64, _ events: UInt32, add: Bool) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = key
        _ = epoll_ctl(epoll, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event)
    }

    private mutating func drop(_ connection: Connection) {
        guard connections.removeValue(forKey: connection.fd) != nil else { return }
        byID[connection.id] = nil
        server.connectionClosed(connection.id)
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, connection.fd, nil)
        close(connection.fd)
    }
}

extension Connection {
    /// Whether the parser holds part of a request (bytes consumed, request not complete).
    fileprivate var parserMidRequest: Bool { parser.isMidRequest }
}
