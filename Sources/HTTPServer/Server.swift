import CEpoll
import Foundation
import Glibc
public import Logging
import Synchronization

/// Answers one request. Runs on Swift's cooperative pool, off the event loop: it must not block
/// (hand blocking work to threads of its own, as the ledger's database layer does).
public typealias HTTPHandler = @Sendable (HTTPRequest) async -> HTTPResponse

/// An HTTP/1.1 server on non-blocking sockets and one epoll event loop thread.
///
/// - The loop thread owns every socket and connection; handlers run as tasks and post their
///   responses back through an inbox and an eventfd, so the loop never waits for a handler.
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
        var inbox: [Message] = []
        var wakeFD: Int32 = -1
        var stopped = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// The tasks feeding streamed responses, by connection: cancelled when it closes, so a
        /// live feed whose client left stops producing.
        var streams: [UInt64: StreamRecord] = [:]
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
    }

    public let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let logger: Logger
    private let shared = Mutex(Shared())
    /// Runs handlers on the loop thread; set by `start`.
    private let executor = Mutex<LoopExecutor?>(nil)
    private let counters = Mutex(Statistics())
    /// Tests only: an errno for `accept` to fail with instead of accepting (nil: accept).
    let acceptFault: (@Sendable () -> Int32?)?

    public init(configuration: HTTPServerConfiguration = .init(), logger: Logger = Logger(label: "http"), handler: @escaping HTTPHandler) {
        self.configuration = configuration
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
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        self.acceptFault = acceptFault
    }

    /// What the loop counted so far.
    package var statistics: Statistics { counters.withLock { $0 } }

    func count(_ update: (inout Statistics) -> Void) { counters.withLock { update(&$0) } }

    /// Binds, listens and starts the event loop thread.
    /// - Returns: the port it listens on (the chosen one when the configuration says 0).
    /// - Throws: `ServerError` when the address cannot be bound.
    @discardableResult
    public func start() throws(ServerError) -> Int {
        let listener = try Socket.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        let port = try Socket.localPort(listener)
        let wake = cepoll_eventfd()
        let epoll = cepoll_create()
        guard wake >= 0, epoll >= 0 else {
            close(listener)
            if wake >= 0 { close(wake) }
            if epoll >= 0 { close(epoll) }
            throw ServerError("eventfd/epoll_create1 failed: \(String(cString: strerror(errno)))")
        }
        shared.withLock { $0.wakeFD = wake }
        let loopExecutor = LoopExecutor(wake: wake)
        executor.withLock { $0 = loopExecutor }
        let thread = Thread { [self] in
            loopExecutor.bindToCurrentThread()
            var loop = EventLoop(server: self, executor: loopExecutor, epoll: epoll, listener: listener, wake: wake)
            loop.run()
            close(epoll)
            let waiters = shared.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.stopped = true
                state.wakeFD = -1  // the executor owns the eventfd and closes it
                defer { state.waiters = [] }
                return state.waiters
            }
            loopExecutor.close()
            for waiter in waiters { waiter.resume() }
        }
        thread.name = "http.loop"
        thread.start()
        logger.info("listening", metadata: ["address": "\(configuration.host):\(port)"])
        return port
    }

    /// Stops accepting, finishes the responses in flight, closes every connection; returns when
    /// the loop has ended.
    public func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopped = shared.withLock { state -> Bool in
                if state.stopped || state.wakeFD < 0 { return true }  // stopped, or never started
                state.waiters.append(continuation)
                return false
            }
            if stopped { continuation.resume() } else { post(.shutdown) }
        }
    }

    /// Hands a message to the loop and wakes it. Only the message that finds the inbox empty
    /// writes the eventfd: the loop reads the eventfd before it takes the inbox, so a non-empty
    /// inbox always has a wake-up pending.
    func post(_ message: Message) {
        let onLoop = executor.withLock { $0 }?.isLoopThread ?? false
        shared.withLock { state in
            let wake = state.inbox.isEmpty && !onLoop  // the loop drains the inbox after each job
            state.inbox.append(message)
            // Written under the lock: once the loop has ended the fd is -1, never a number the
            // process has reused for another socket.
            if wake, state.wakeFD >= 0 {
                var one: UInt64 = 1
                _ = write(state.wakeFD, &one, 8)
            }
        }
    }

    func takeInbox() -> [Message] { shared.withLock { state in defer { state.inbox = [] }; return state.inbox } }

    /// Runs the handler for a connection's request and posts the response, then the pieces of a
    /// streamed body.
    func dispatch(_ request: HTTPRequest, connection id: UInt64) {
        let handler = handler
        let headRequest = request.head.method == "HEAD"
        Task(executorPreference: executor.withLock { $0 }) { [self] in
            var response = await handler(request)
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
