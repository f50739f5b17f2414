import CEpoll
import Foundation
import Glibc
public import Logging
import Synchronization

/// Answers one request. Runs on Swift's cooperative pool, off the event loop: it must not block
/// (hand blocking work to threads of its own, as the ledger's database layer does).
public typealias HTTPHandler = @Sendable (HTTPRequest) async -> HTTPResponse

/// An HTTP/1.1 server on non-blocking sockets and epoll event loop threads (one per core by
/// default, `HTTPServerConfiguration.eventLoops`).
///
/// - Each loop has its own listening socket on the address (`SO_REUSEPORT`: the kernel spreads
///   new connections across them) and owns the connections it accepted; its handlers run as
///   tasks on its thread and post their responses back through its inbox and eventfd, so a loop
///   never waits for a handler. What the loops share: the connection caps (a lock per accept
///   and close), the streams' bookkeeping and the counters.
/// - Keep-alive and pipelining: requests on a connection are answered one at a time, in order;
///   the connection is not read while its response is pending (which also bounds what a client
///   can make the server buffer).
/// - Writes try `send` first and wait for `EPOLLOUT` only on `EAGAIN`; `TCP_NODELAY` is on.
/// - Limits (`HTTPServerConfiguration`): request sizes, unparsed input per connection, read
///   deadline (408), idle timeout, write timeout, connection caps (in all and per address), a
///   pause after `accept` runs out of file descriptors. A request that breaks the protocol gets
///   its 4xx/5xx and `Connection: close`.
/// - A client that sends its request and then shuts down its sending side gets its answer
///   before the connection closes.
/// - A HEAD request (or a 204/304) to a streamed route gets the head only; its stream is never
///   read, and released at once, which cancels it.
/// - `shutdown()` stops accepting, lets in-flight responses finish, closes every connection.
///
/// ```swift
/// let server = Server(configuration: .init(port: 0)) { request in .text(200, "ok") }
/// let port = try server.start()
/// …
/// await server.shutdown()
/// ```
public final class Server: Sendable {
    enum Message: Sendable {
        case response(UInt64, HTTPResponse)
        case chunk(UInt64, [UInt8])
        case end(UInt64)
        /// The stream failed: close without ending the body.
        case abort(UInt64)
        case shutdown
    }

    private struct Shared {
        /// Per loop: the messages waiting for it, and the eventfd that wakes it (-1 before it
        /// starts and once it has ended).
        var inboxes: [[Message]] = []
        var wakeFDs: [Int32] = []
        /// Loops started and not ended yet.
        var running = 0
        var started = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// The tasks feeding streamed responses, by connection: cancelled when it closes, so a
        /// live feed whose client left stops producing.
        var streams: [UInt64: StreamRecord] = [:]
    }

    /// Connections open across every loop, and per client address (while
    /// `maxConnectionsPerAddress` is set): the caps are the server's, not a loop's.
    private struct ConnectionBook {
        var open = 0
        var perAddress: [String: Int] = [:]
    }

    enum Admission {
        case admitted
        /// `maxConnections` are open: closed without a word.
        case overTotal
        /// `maxConnectionsPerAddress` are open from this address: 503.
        case overAddress
    }

    /// A streamed response in flight. It exists from before the loop hears of the response until
    /// the stream ends or the connection closes; no record means "stop".
    private struct StreamRecord {
        /// Bytes handed to the loop and not yet written.
        var queued = 0
        /// The feeder, waiting for the queued bytes to drain.
        var waiter: CheckedContinuation<Bool, Never>?
        var feeder: Task<Void, Never>?
    }

    /// A feeder stops taking pieces from its stream while this many bytes wait to be written.
    static let streamHighWater = 256 * 1024

    /// What the loop counted: for tests (the bounds that no response shows) and diagnostics.
    package struct Statistics: Sendable, Equatable {
        /// Bytes received, on all connections.
        package var bytesReceived = 0
        /// Bytes moved to compact the input buffers of closed connections (stays below
        /// `bytesReceived`: consuming a request does not shift the bytes after it).
        package var bytesMoved = 0
        /// The most unparsed bytes one connection held at once (at most `inputLimit`).
        package var peakBufferedInput = 0
        /// `accept` calls that failed.
        package var acceptFailures = 0
        /// Connections admitted, per event loop.
        package var admittedByLoop: [Int: Int] = [:]
    }

    public let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let logger: Logger
    private let shared = Mutex(Shared())
    /// Per loop, runs its connections' handlers on its thread; set by `start`.
    private let executors = Mutex<[LoopExecutor]>([])
    private let book = Mutex(ConnectionBook())
    private let counters = Mutex(Statistics())
    /// Tests only: an errno for `accept` to fail with instead of accepting (nil: accept).
    let acceptFault: (@Sendable () -> Int32?)?

    public init(configuration: HTTPServerConfiguration = .init(), logger: Logger = Logger(label: "http"), handler: @escaping HTTPHandler) {
        self.configuration = configuration.normalized
        self.handler = handler
        self.logger = logger
        self.acceptFault = nil
    }

    /// A server whose `accept` fails with the errno `acceptFault` returns, while it returns one:
    /// running out of file descriptors, without lowering the limit of a process other tests share.
    package init(
        configuration: HTTPServerConfiguration, logger: Logger = Logger(label: "http"),
        acceptFault: @escaping @Sendable () -> Int32?, handler: @escaping HTTPHandler
    ) {
        self.configuration = configuration.normalized
        self.handler = handler
        self.logger = logger
        self.acceptFault = acceptFault
    }

    /// What the loop counted so far.
    package var statistics: Statistics { counters.withLock { $0 } }

    func count(_ update: (inout Statistics) -> Void) { counters.withLock { update(&$0) } }

    /// Binds, listens and starts the event loop threads (`configuration.eventLoops`), each with a
    /// listening socket of its own on the address (`SO_REUSEPORT` when there are several: the
    /// kernel spreads new connections across them).
    /// - Returns: the port it listens on (the chosen one when the configuration says 0).
    /// - Throws: `ServerError` when the address cannot be bound.
    @discardableResult
    public func start() throws(ServerError) -> Int {
        let count = configuration.eventLoops
        guard !shared.withLock({ $0.started }) else { throw ServerError("the server was started already") }
        var listeners: [Int32] = [], wakes: [Int32] = [], epolls: [Int32] = []
        func closeAll() { for fd in listeners + wakes + epolls where fd >= 0 { close(fd) } }
        var port = configuration.port
        // Several listeners share the port (SO_REUSEPORT), and would share it with another
        // process's too: refuse a port someone listens on, as one listener's bind would.
        if count > 1, port != 0 { try Socket.ensureFree(host: configuration.host, port: port) }
        do {
            for index in 0..<count {
                let listener = try Socket.listen(host: configuration.host, port: port, backlog: configuration.backlog, reusePort: count > 1)
                listeners.append(listener)
                if index == 0 { port = try Socket.localPort(listener) }
            }
        } catch {
            closeAll()
            throw error
        }
        for _ in 0..<count {
            let wake = cepoll_eventfd(), epoll = cepoll_create()
            wakes.append(wake)
            epolls.append(epoll)
            guard wake >= 0, epoll >= 0 else {
                let reason = String(cString: strerror(errno))
                closeAll()
                throw ServerError("eventfd/epoll_create1 failed: \(reason)")
            }
        }
        let loopExecutors = zip(wakes, epolls).map { LoopExecutor(wake: $0, readiness: SocketReadiness(epoll: $1)) }
        executors.withLock { $0 = loopExecutors }
        shared.withLock { state in
            state.inboxes = Array(repeating: [], count: count)
            state.wakeFDs = wakes
            state.running = count
            state.started = true
        }
        for index in 0..<count {
            let (loopExecutor, epoll, listener, wake) = (loopExecutors[index], epolls[index], listeners[index], wakes[index])
            let thread = Thread { [self] in
                loopExecutor.bindToCurrentThread()
                var loop = EventLoop(server: self, index: index, executor: loopExecutor, epoll: epoll, listener: listener, wake: wake)
                loop.run()
                loopExecutor.readiness.close()
                close(epoll)
                shared.withLock { $0.wakeFDs[index] = -1 }  // the executor owns the eventfd and closes it
                loopExecutor.close()
                // Counted out only now: `shutdown()` returns once every loop is this far.
                let waiters = shared.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.running -= 1
                    guard state.running == 0 else { return [] }
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume() }
            }
            thread.name = "http.loop.\(index)"
            thread.start()
        }
        logger.info("listening", metadata: ["address": "\(configuration.host):\(port)", "event_loops": "\(count)"])
        return port
    }

    /// Stops accepting, finishes the responses in flight, closes every connection; returns when
    /// every loop has ended.
    public func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopped = shared.withLock { state -> Bool in
                if !state.started || state.running == 0 { return true }  // never started, or stopped
                state.waiters.append(continuation)
                return false
            }
            if stopped { continuation.resume() } else { post(.shutdown) }
        }
    }

    /// The loop that owns connection `id` (see `EventLoop`'s ids).
    func loop(of id: UInt64) -> Int { Int((id &- 1) % UInt64(configuration.eventLoops)) }

    /// Counts a connection from `address` in, unless a cap is reached.
    func admit(_ address: String) -> Admission {
        book.withLock { book in
            guard book.open < configuration.maxConnections else { return .overTotal }
            if let cap = configuration.maxConnectionsPerAddress {
                guard book.perAddress[address, default: 0] < cap else { return .overAddress }
                book.perAddress[address, default: 0] += 1
            }
            book.open += 1
            return .admitted
        }
    }

    /// Counts an admitted connection out.
    func release(_ address: String) {
        book.withLock { book in
            book.open -= 1
            guard configuration.maxConnectionsPerAddress != nil else { return }
            let left = book.perAddress[address, default: 1] - 1
            book.perAddress[address] = left > 0 ? left : nil
        }
    }

    /// Hands a message to the loop of its connection (a shutdown to every loop) and wakes it.
    func post(_ message: Message) {
        switch message {
        case .response(let id, _), .chunk(let id, _), .end(let id), .abort(let id): post(message, toLoop: loop(of: id))
        case .shutdown: for index in 0..<configuration.eventLoops { post(message, toLoop: index) }
        }
    }

    /// Only the message that finds the loop's inbox empty writes its eventfd: the loop reads the
    /// eventfd before it takes the inbox, so a non-empty inbox always has a wake-up pending.
    private func post(_ message: Message, toLoop index: Int) {
        let onLoop = executors.withLock { $0.indices.contains(index) ? $0[index] : nil }?.isLoopThread ?? false
        shared.withLock { state in
            guard state.inboxes.indices.contains(index) else { return }  // never started
            let wake = state.inboxes[index].isEmpty && !onLoop  // the loop drains its inbox after each job
            state.inboxes[index].append(message)
            // Written under the lock: once the loop has ended the fd is -1, never a number the
            // process has reused for another socket.
            if wake, state.wakeFDs[index] >= 0 {
                var one: UInt64 = 1
                _ = write(state.wakeFDs[index], &one, 8)
            }
        }
    }

    func takeInbox(loop index: Int) -> [Message] {
        shared.withLock { state in
            defer { state.inboxes[index] = [] }
            return state.inboxes[index]
        }
    }

    /// Runs the handler for a connection's request and posts the response, then the pieces of a
    /// streamed body.
    func dispatch(_ request: HTTPRequest, connection id: UInt64) {
        let handler = handler
        let headRequest = request.head.method == "HEAD"
        let loop = loop(of: id)
        let executor = executors.withLock { $0.indices.contains(loop) ? $0[loop] : nil }
        Task(executorPreference: executor) { [self] in
            var response = await SocketReadiness.$current.withValue(executor?.readiness) { await handler(request) }
            guard response.body.isStream else { return post(.response(id, response)) }
            if headRequest || !HTTPResponseWriter.hasBody(status: response.status) {
                // RFC 9110 §9.3.2: HEAD gets GET's head and no body (nor does a 1xx, 204 or 304,
                // RFC 9110 §6.4.1). The stream is not read: reading it would start its producer
                // (a database read, a live feed's wait). Replacing it drops the last reference,
                // which cancels it (`onTermination` runs with `.cancelled`, a later `yield` is
                // `.terminated`); an unfolding stream is never asked for an element.
                response.body = response.body.emptyStream
                return post(.response(id, response))
            }
            shared.withLock { $0.streams[id] = StreamRecord() }
            post(.response(id, response))
            // Backpressure: the next piece is taken from the stream only when what was handed to
            // the loop has been written, or is under the high-water mark. A pull-based stream
            // (`AsyncStream(unfolding:)`) therefore produces no faster than the client reads; a
            // push-based one buffers in AsyncStream itself.
            let feeder = Task { [self] in
                do {
                    switch response.body {
                    case .bytes: break
                    case .stream(let stream):
                        for await piece in stream {
                            guard await roomToWrite(id, adding: piece.count) else { return }
                            post(.chunk(id, piece))
                        }
                    case .failableStream(let stream):
                        for try await piece in stream {
                            guard await roomToWrite(id, adding: piece.count) else { return }
                            post(.chunk(id, piece))
                        }
                    }
                    post(.end(id))
                } catch {
                    logger.warning("a streamed response failed; closing its connection", metadata: ["error": "\(error)"])
                    post(.abort(id))
                }
                _ = shared.withLock { $0.streams.removeValue(forKey: id) }
            }
            let gone = shared.withLock { state -> Bool in
                guard state.streams[id] != nil else { return true }
                state.streams[id]?.feeder = feeder
                return false
            }
            if gone { feeder.cancel() }
        }
    }

    /// The loop closed a connection, or found it closed: stop feeding its stream, if any.
    func connectionClosed(_ id: UInt64) {
        guard let record = shared.withLock({ $0.streams.removeValue(forKey: id) }) else { return }
        record.feeder?.cancel()
        record.waiter?.resume(returning: false)
    }

    /// The loop wrote everything it had for the connection: its feeder may go on.
    func outputDrained(_ id: UInt64) {
        let waiter = shared.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard state.streams[id] != nil else { return nil }
            state.streams[id]?.queued = 0
            defer { state.streams[id]?.waiter = nil }
            return state.streams[id]?.waiter
        }
        waiter?.resume(returning: true)
    }

    /// Counts `bytes` as queued for the connection once its queue is under the high-water mark.
    /// - Returns: false when the stream must stop (the connection is gone).
    private func roomToWrite(_ id: UInt64, adding bytes: Int) async -> Bool {
        let ready = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let answer = shared.withLock { state -> Bool? in
                guard let record = state.streams[id] else { return false }
                guard record.queued >= Self.streamHighWater else { return true }
                state.streams[id]?.waiter = continuation
                return nil
            }
            if let answer { continuation.resume(returning: answer) }
        }
        guard ready else { return false }
        return shared.withLock { state in
            guard state.streams[id] != nil else { return false }
            state.streams[id]?.queued += bytes
            return true
        }
    }

    var log: Logger { logger }
}

/// The server could not start.
public struct ServerError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
