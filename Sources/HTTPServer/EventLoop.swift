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
        /// A refusal was written and our side shut down; what the client still sends is read and
        /// dropped until it closes too, or until the instant plus `lingerTimeout` (RFC 9112 §9.6).
        case lingering(ContinuousClock.Instant)
    }

    let id: UInt64
    let fd: Int32
    /// The client's address (`a.b.c.d` or IPv6 text), for the per-address cap.
    let address: String
    var parser: HTTPRequestParser
    var input: InputBuffer
    var output: [UInt8] = []
    var written = 0
    /// When output was last written, or queued on an empty queue: the write timeout runs from
    /// here while bytes wait.
    var lastWriteProgress: ContinuousClock.Instant
    var phase: Phase
    /// The request being answered.
    var head: HTTPRequestHead?
    /// Close once the current response is written.
    var closeAfterResponse = false
    /// Close by lingering, not at once: input may be left unread (a refusal), and closing a
    /// socket with unread input sends a reset that can destroy the response on its way.
    var lingerAfterResponse = false
    /// The client shut down its sending side (a read returned 0). What it sent before is still
    /// parsed and answered; the connection closes once no complete request is left.
    var peerClosed = false
    /// The epoll events currently registered.
    var interest: UInt32 = 0

    init(id: UInt64, fd: Int32, address: String, configuration: HTTPServerConfiguration, now: ContinuousClock.Instant) {
        self.id = id
        self.fd = fd
        self.address = address
        self.parser = HTTPRequestParser(limits: configuration.limits)
        self.input = InputBuffer(limit: configuration.inputLimit)
        self.lastWriteProgress = now
        self.phase = .idle(now)
    }

    /// Queues bytes to write.
    func queue(_ bytes: [UInt8], now: ContinuousClock.Instant) {
        if written == output.count { lastWriteProgress = now }  // the write timeout starts now
        output += bytes
    }
}

/// The event loop: accepts, reads, parses, dispatches, writes, times out. Runs on its own thread.
struct EventLoop {
    private let server: Server
    /// This loop's place among the server's (`Server.loop(of:)` finds it from a connection id).
    private let index: Int
    private let executor: LoopExecutor
    private let epoll: Int32
    private var listener: Int32
    private let wake: Int32
    private let clock = ContinuousClock()
    private var connections: [Int32: Connection] = [:]
    private var byID: [UInt64: Connection] = [:]
    /// Connection ids are `index + 1`, then every `loops`-th number: unique across the loops,
    /// and each names its loop.
    private var nextID: UInt64
    private let idStride: UInt64
    private var shuttingDown = false
    /// When a shutdown stops waiting for responses still in flight.
    private var shutdownDeadline: ContinuousClock.Instant?
    private var acceptBackoff: AcceptBackoff<ContinuousClock.Instant>
    private var readBuffer = [UInt8](repeating: 0, count: HTTPServerConfiguration.readSize)

    private static let readable = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
    /// epoll keys of the listening socket and the wake-up eventfd; connections use their ids.
    private static let listenerKey = UInt64.max
    private static let wakeKey = UInt64.max - 1
    private static let writable = EPOLLOUT.rawValue

    init(server: Server, index: Int, executor: LoopExecutor, epoll: Int32, listener: Int32, wake: Int32) {
        self.server = server
        self.index = index
        self.nextID = UInt64(index) + 1
        self.idStride = UInt64(server.configuration.eventLoops)
        self.executor = executor
        self.epoll = epoll
        self.listener = listener
        self.wake = wake
        self.acceptBackoff = AcceptBackoff(pause: server.configuration.acceptRetryDelay)
    }

    mutating func run() {
        register(listener, key: Self.listenerKey, EPOLLIN.rawValue, add: true)
        register(wake, key: Self.wakeKey, EPOLLIN.rawValue, add: true)
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var lastSweep = clock.now
        while !(shuttingDown && connections.isEmpty) {
            let timeout: Int32 = executor.prepareToWait() ? 100 : 0
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, Int32($0.count), timeout) }
            executor.stopWaiting()
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
                } else if key >= SocketReadiness.firstKey {
                    executor.readiness.ready(key)  // a socket a handler task waits on
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
                for message in server.takeInbox(loop: index) { handle(message) }
                rounds += 1
            } while executor.hasPending && rounds < 16
            if acceptBackoff.resume(at: clock.now), listener >= 0 {
                register(listener, key: Self.listenerKey, EPOLLIN.rawValue, add: true)
                acceptAll()
            }
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
        // A backlog's worth per wake-up at most: the listener is level-triggered, so the rest are
        // reported again, after the connections already open had their turn.
        for _ in 0..<max(1, Int(server.configuration.backlog)) {
            guard listener >= 0, !acceptBackoff.isPaused else { return }
            let accepted = server.acceptFault?().map { Socket.Accepted.failed(errno: $0) } ?? Socket.accept(listener)
            switch accepted {
            case .wouldBlock:
                return
            case .connection(let fd, let address):
                admit(fd, address: address)
            case .failed(let error):
                server.count { $0.acceptFailures += 1 }
                switch acceptBackoff.failed(errno: error, at: clock.now) {
                case .acceptNext:
                    continue
                case .pause(_, let log):
                    // The connection stays queued and the listener readable: stop polling it.
                    _ = epoll_ctl(epoll, EPOLL_CTL_DEL, listener, nil)
                    if let log {
                        server.log.error(
                            "accept failed; not accepting for a while, serving the connections already open",
                            metadata: [
                                "error": "\(String(cString: strerror(error)))", "failures": "\(log)",
                                "pause": "\(server.configuration.acceptRetryDelay)",
                                "connections": "\(connections.count)",
                            ])
                    }
                    return
                }
            }
        }
    }

    private mutating func admit(_ fd: Int32, address: String) {
        let configuration = server.configuration
        guard !shuttingDown else {
            Glibc.close(fd)
            return
        }
        // The caps hold across every loop.
        switch server.admit(address) {
        case .admitted:
            break
        case .overTotal:
            Glibc.close(fd)
            return
        case .overAddress:
            // Best effort, one non-blocking send: a client that has already sent its request
            // may see a reset instead.
            _ = Self.tooManyConnections.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            Glibc.close(fd)
            configuration.onRefusal?(.init(status: 503, reason: "too many connections from this address", clientAddress: address))
            return
        }
        server.count { [index] in $0.admittedByLoop[index, default: 0] += 1 }
        let connection = Connection(id: nextID, fd: fd, address: address, configuration: configuration, now: clock.now)
        nextID += idStride
        connections[fd] = connection
        byID[connection.id] = connection
        connection.interest = Self.readable
        register(fd, key: connection.id, Self.readable, add: true)
    }

    private static let tooManyConnections: [UInt8] = {
        var response = HTTPResponse.text(503, "too many connections from this address\n")
        response.headers.append(name: "Retry-After", value: "1")
        guard case .bytes(let body) = response.body else { return [] }
        return HTTPResponseWriter.head(response, version: .http1_1, keepAlive: false) + body
    }()

    // MARK: - Reading

    /// Reads, unless the connection's response is pending: pipelined requests wait in the
    /// socket until it is written.
    private mutating func receive(_ connection: Connection) {
        switch connection.phase {
        case .idle, .reading: readAvailable(connection)
        case .lingering: discardAvailable(connection)
        case .handling, .responding: break
        }
    }

    /// Reads what fits in the connection's input buffer and parses after each read, until a
    /// request is whole (pipelined bytes after it stay in the socket), the socket is drained,
    /// or the client has shut down its side.
    private mutating func readAvailable(_ connection: Connection) {
        while !connection.peerClosed, byID[connection.id] === connection {
            switch connection.phase {
            case .idle, .reading: break
            default: return
            }
            let room = connection.input.room
            guard room > 0 else {
                // Unreachable within the parser's limits (see `HTTPServerConfiguration.inputLimit`).
                let error = connection.parser.overflow
                return refuse(connection, status: error.status, reason: error.reason)
            }
            let wanted = min(readBuffer.count, room)
            let received = readBuffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, wanted, 0) }
            if received > 0 {
                if case .idle = connection.phase { connection.phase = .reading(clock.now) }
                connection.input.append(readBuffer[0..<received])
                let buffered = connection.input.count
                server.count {
                    $0.bytesReceived += received
                    $0.peakBufferedInput = max($0.peakBufferedInput, buffered)
                }
                process(connection)
                if received < wanted { return }  // drained
            } else if received == 0 {
                // A request followed by the end of the client's sending side (shutdown(SHUT_WR)):
                // still answered. RFC 9112 §9.6: a client may half-close after its last request.
                connection.peerClosed = true
                return process(connection)
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return
            } else if errno == EINTR {
                continue
            } else {
                return drop(connection)
            }
        }
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
            while let event = try connection.input.parse(with: &connection.parser) {
                switch event {
                case .head(let head):
                    if head.expectsContinue {
                        let interim = HTTPResponseWriter.head(HTTPResponse(status: 100), version: .http1_1, keepAlive: true)
                        connection.queue(interim, now: clock.now)
                        flush(connection)
                        guard byID[connection.id] === connection else { return }
                    }
                case .request(var request):
                    request.clientAddress = connection.address
                    connection.head = request.head
                    // After the client's last byte this response is the last one, unless more
                    // requests were sent before it (those are answered first).
                    connection.closeAfterResponse =
                        !request.head.keepAlive || shuttingDown || (connection.peerClosed && connection.input.isEmpty)
                    connection.phase = .handling
                    updateInterest(connection)
                    server.dispatch(request, connection: connection.id)
                    return
                }
            }
            // Nothing whole is left, and nothing more will come.
            if connection.peerClosed { return drop(connection) }
            if connection.input.isEmpty, case .reading = connection.phase, !connection.parser.isMidRequest {
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
        connection.lingerAfterResponse = true
        connection.head = nil
        connection.phase = .responding(complete: true)
        connection.input.removeAll()
        server.configuration.onRefusal?(.init(status: status, reason: reason, clientAddress: connection.address))
        let response = HTTPResponse.text(status, reason + "\n")
        connection.queue(HTTPResponseWriter.head(response, version: .http1_1, keepAlive: false), now: clock.now)
        if case .bytes(let body) = response.body { connection.queue(body, now: clock.now) }
        updateInterest(connection)
        flush(connection)
    }

    /// Reads and drops what a lingering connection's client still sends; closes on its end.
    private mutating func discardAvailable(_ connection: Connection) {
        // Bounded per wake-up, so a client that keeps sending cannot hold the loop.
        for _ in 0..<16 {
            let received = readBuffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if received > 0 { continue }
            if received < 0, errno == EAGAIN || errno == EWOULDBLOCK { return }
            if received < 0, errno == EINTR { continue }
            return drop(connection)  // the client closed (or the socket failed)
        }
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
                switch connection.phase {
                case .idle, .lingering: drop(connection)
                default: connection.closeAfterResponse = true
                }
            }
        case .response(let id, let response):
            guard let connection = byID[id], case .handling = connection.phase else { return server.connectionClosed(id) }
            let head = connection.head
            let version = head?.version ?? .http1_1
            let headRequest = head?.method == "HEAD"
            var keepAlive = !connection.closeAfterResponse && !shuttingDown
            if response.body.isStream, version == .http1_0 { keepAlive = false }
            connection.closeAfterResponse = !keepAlive
            let responseHead = HTTPResponseWriter.head(response, version: version, keepAlive: keepAlive, headRequest: headRequest)
            connection.queue(responseHead, now: clock.now)
            let bodiless = headRequest || !HTTPResponseWriter.hasBody(status: response.status)
            switch response.body {
            case .bytes(let body):
                if !bodiless { connection.queue(body, now: clock.now) }
                connection.phase = .responding(complete: true)
            case .stream, .failableStream:
                // Bodiless: `Server.dispatch` released the stream unread.
                connection.phase = .responding(complete: bodiless)
            }
            flush(connection)
        case .chunk(let id, let piece):
            guard let connection = byID[id], case .responding(complete: false) = connection.phase else { return server.connectionClosed(id) }
            let framed = connection.head?.version == .http1_0 ? piece : HTTPResponseWriter.chunk(piece)
            connection.queue(framed, now: clock.now)
            flush(connection)
        case .abort(let id):
            // Whatever is queued goes out, then the connection closes without the last chunk.
            guard let connection = byID[id], case .responding(complete: false) = connection.phase else { return }
            connection.phase = .responding(complete: true)
            connection.closeAfterResponse = true
            flush(connection)
        case .end(let id):
            guard let connection = byID[id], case .responding(complete: false) = connection.phase else { return }
            if connection.head?.version != .http1_0 { connection.queue(HTTPResponseWriter.lastChunk, now: clock.now) }
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
                connection.lastWriteProgress = clock.now
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
            if connection.closeAfterResponse { return closeAfterLastResponse(connection) }
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

    /// Closes after the last response: at once, or, after a refusal, by lingering (RFC 9112
    /// §9.6: half-close, then read until the client closes, so the unread rest of its request
    /// does not turn the close into a reset that destroys the response before it is read).
    private mutating func closeAfterLastResponse(_ connection: Connection) {
        guard connection.lingerAfterResponse, !connection.peerClosed, !shuttingDown else { return drop(connection) }
        Glibc.shutdown(connection.fd, Int32(SHUT_WR))
        connection.phase = .lingering(clock.now)
        updateInterest(connection)
        discardAvailable(connection)
    }

    // MARK: - Deadlines

    private mutating func sweep() {
        let now = clock.now
        if let deadline = shutdownDeadline, now >= deadline {
            // Streams that never end on their own (live feeds) and clients that do not read.
            for connection in Array(connections.values) { drop(connection) }
            return
        }
        let configuration = server.configuration
        for connection in Array(connections.values) {
            switch connection.phase {
            case .idle(let since) where now - since >= configuration.idleTimeout || shuttingDown:
                drop(connection)
            case .reading(let since) where now - since >= configuration.readDeadline:
                refuse(connection, status: 408, reason: "the request was not complete within \(configuration.readDeadline)")
            case .responding
            where connection.written < connection.output.count && now - connection.lastWriteProgress >= configuration.writeTimeout:
                // The client stopped reading (a stalled stream or export): its stream is cancelled.
                drop(connection)
            case .lingering(let since) where now - since >= configuration.lingerTimeout:
                drop(connection)
            default:
                break
            }
        }
    }

    // MARK: - epoll

    private mutating func updateInterest(_ connection: Connection) {
        var wanted: UInt32 = 0
        switch connection.phase {
        case .idle, .reading: if !connection.peerClosed { wanted |= Self.readable }
        case .lingering: wanted |= Self.readable
        case .handling, .responding: break
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
        let moved = connection.input.bytesMoved
        server.count { $0.bytesMoved += moved }
        server.release(connection.address)
        server.connectionClosed(connection.id)
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, connection.fd, nil)
        Glibc.close(connection.fd)
    }
}
