import Glibc

/// What the event loop does after `accept(2)` failed: a pure value over instants the loop passes
/// in, so it is tested under a manual clock.
///
/// Out of file descriptors (`EMFILE`, `ENFILE`) or kernel memory (`ENOBUFS`, `ENOMEM`), the
/// connection stays in the listen queue, so the level-triggered listener is reported readable
/// again at once: retrying at once spins the loop at 100% CPU and starves the connections it
/// already serves. Instead the loop stops polling the listener for `pause`, serves what it has
/// (closing connections frees descriptors), and logs at most once per `logInterval`, with the
/// number of failures since the last log.
///
/// Errors that consume the pending connection (it was aborted, or the network under it failed:
/// accept(2) "Error handling" says to treat them like `EAGAIN`, i.e. retry) go on to the next.
/// Any other error pauses as well: spinning is never the answer.
package struct AcceptBackoff<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    package enum Decision: Equatable, Sendable {
        /// Accept the next pending connection.
        case acceptNext
        /// Stop polling the listener until `until`. `log`: failures to report now (the first
        /// after a quiet interval, with those kept quiet before it), or nil.
        case pause(until: Instant, log: Int?)
    }

    package let pause: Duration
    package let logInterval: Duration
    /// While paused: when the listener is polled again.
    package private(set) var resumeAt: Instant?
    private var lastLog: Instant?
    private var unlogged = 0

    package init(pause: Duration, logInterval: Duration = .seconds(10)) {
        self.pause = pause
        self.logInterval = logInterval
    }

    package var isPaused: Bool { resumeAt != nil }

    /// `accept` failed with `error` at `now`.
    package mutating func failed(errno error: Int32, at now: Instant) -> Decision {
        switch error {
        case EINTR, ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP,
            ENETUNREACH:
            return .acceptNext
        default:
            unlogged += 1
            let until = now.advanced(by: pause)
            resumeAt = until
            guard lastLog.map({ $0.advanced(by: logInterval) <= now }) ?? true else {
                return .pause(until: until, log: nil)
            }
            lastLog = now
            defer { unlogged = 0 }
            return .pause(until: until, log: unlogged)
        }
    }

    /// Whether a pause ended by `now`: the loop polls the listener again.
    package mutating func resume(at now: Instant) -> Bool {
        guard let resumeAt, resumeAt <= now else { return false }
        self.resumeAt = nil
        return true
    }
}
