import Glibc
import HTTPServer
import Testing

/// Instants of a manual clock: `at(ms)` is `ms` milliseconds after an arbitrary origin.
private let origin = ContinuousClock.now
private func at(_ milliseconds: Int) -> ContinuousClock.Instant { origin + .milliseconds(milliseconds) }

@Suite("accept backoff (manual clock)")
struct AcceptBackoffTests {
    @Test("out of descriptors: the listener rests for the pause, then is polled again")
    func pauses() {
        var backoff = AcceptBackoff<ContinuousClock.Instant>(pause: .milliseconds(100))
        #expect(backoff.failed(errno: EMFILE, at: at(0)) == .pause(until: at(100), log: 1))
        #expect(backoff.isPaused)
        let early = backoff.resume(at: at(99))
        #expect(!early)
        let due = backoff.resume(at: at(100))
        #expect(due)
        #expect(!backoff.isPaused)
        let again = backoff.resume(at: at(150))
        #expect(!again, "resumed once")
        #expect(backoff.failed(errno: ENFILE, at: at(100)) == .pause(until: at(200), log: nil))
    }

    @Test("logged once per interval, with the failures kept quiet since")
    func logsOncePerInterval() {
        var backoff = AcceptBackoff<ContinuousClock.Instant>(pause: .milliseconds(100), logInterval: .seconds(10))
        var logs: [Int] = []
        // A failure every 100 ms for 25 s: 250 failures.
        for step in 0..<250 {
            guard case .pause(_, let log) = backoff.failed(errno: EMFILE, at: at(step * 100)) else {
                Issue.record("not paused")
                return
            }
            if let log { logs.append(log) }
            _ = backoff.resume(at: at(step * 100 + 100))
        }
        #expect(logs == [1, 100, 100], "at 0 s, 10 s and 20 s")
    }

    @Test(
        "errors that consume the pending connection go on to the next, at once",
        arguments: [ECONNABORTED, EINTR, EPROTO, EPERM, ENETUNREACH])
    func acceptNext(error: Int32) {
        var backoff = AcceptBackoff<ContinuousClock.Instant>(pause: .milliseconds(100))
        #expect(backoff.failed(errno: error, at: at(0)) == .acceptNext)
        #expect(!backoff.isPaused)
    }

    @Test("an unexpected error pauses too: never a spin", arguments: [ENOBUFS, ENOMEM, EBADF])
    func unexpected(error: Int32) {
        var backoff = AcceptBackoff<ContinuousClock.Instant>(pause: .milliseconds(100))
        #expect(backoff.failed(errno: error, at: at(0)) == .pause(until: at(100), log: 1))
    }
}
