import CEpoll
import Glibc
import Synchronization

/// Lets a task wait until a socket of its own is ready, on an event loop's epoll: a handler
/// that talks to its database through a non-blocking connection waits here, between the
/// loop's other events, instead of a thread blocking in `poll` for it.
///
/// Each wait registers the socket once (`EPOLLONESHOT`), under a key of its own; the loop takes
/// it out again and resumes the waiter when the socket is ready, has failed or hung up. When the
/// loop ends, every waiter is resumed with an error.
///
/// ```swift
/// if let readiness = SocketReadiness.current { try await readiness.wait(for: fd, writable: false) }
/// ```
public final class SocketReadiness: Sendable {
    /// The readiness of the loop that runs the current handler's task, if any.
    @TaskLocal public static var current: SocketReadiness?

    /// Keys from here up are waits; connection ids stay far below, the listener's and the
    /// eventfd's keys are the two highest.
    static let firstKey: UInt64 = 1 << 62

    private struct Waiter {
        var socket: Int32
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var nextKey = SocketReadiness.firstKey
        var waiters: [UInt64: Waiter] = [:]
        var closed = false
    }

    private let epoll: Int32
    private let state = Mutex(State())

    init(epoll: Int32) {
        self.epoll = epoll
    }

    /// Returns when `socket` is readable (or writable), has failed or hung up.
    /// - Throws: `ServerError` when the loop has ended or epoll refuses the socket.
    public func wait(for socket: Int32, writable: Bool) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let failure = state.withLock { state -> ServerError? in
                guard !state.closed else { return ServerError("the event loop has ended") }
                let key = state.nextKey
                state.nextKey += 1
                var event = epoll_event()
                event.events = (writable ? EPOLLOUT.rawValue : EPOLLIN.rawValue) | EPOLLONESHOT.rawValue
                event.data.u64 = key
                // Registered under the lock: the loop, which takes the waiter under it, cannot
                // see the event before the waiter is there.
                guard epoll_ctl(epoll, EPOLL_CTL_ADD, socket, &event) == 0 else {
                    return ServerError("epoll_ctl refused socket \(socket): \(String(cString: strerror(errno)))")
                }
                state.waiters[key] = Waiter(socket: socket, continuation: continuation)
                return nil
            }
            if let failure { continuation.resume(throwing: failure) }
        }
    }

    /// The loop's part: the socket waited on under `key` is ready.
    func ready(_ key: UInt64) {
        guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: key) }) else { return }
        epoll_ctl(epoll, EPOLL_CTL_DEL, waiter.socket, nil)
        waiter.continuation.resume()
    }

    /// The loop's part as it ends (before it closes its epoll): every waiter fails, and so does
    /// every later wait.
    func close() {
        let waiters = state.withLock { state -> [Waiter] in
            state.closed = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            epoll_ctl(epoll, EPOLL_CTL_DEL, waiter.socket, nil)
            waiter.continuation.resume(throwing: ServerError("the event loop has ended"))
        }
    }
}
