import Forwarding
import Testing

/// Pacing and retries under a manual clock: instants are made, never waited for.
@Suite("Pacing and retries (manual clock)")
struct PacingTests {
    let t0 = ContinuousClock.now

    private func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64(seconds * 1000)) }

    private func notification(_ position: Int64, _ kind: PendingNotification.Kind) -> PendingNotification {
        PendingNotification(position: position, kind: kind)
    }

    @Test("a Progress less than 5 minutes after the last accepted one is held; a newer Progress replaces it")
    func progressWindow() {
        var outbox = SessionOutbox()
        outbox.append(notification(1, .start))
        outbox.append(notification(2, .progress))
        #expect(outbox.next(now: at(0)) == .send(notification(1, .start), superseded: []))
        outbox.completed(notification(1, .start), acceptedAt: at(0))
        #expect(outbox.next(now: at(0)) == .send(notification(2, .progress), superseded: []), "the first Progress goes at once")
        outbox.completed(notification(2, .progress), acceptedAt: at(1))

        outbox.append(notification(3, .progress))
        #expect(outbox.next(now: at(60)) == .hold(until: at(301), superseded: []))
        outbox.append(notification(4, .progress))
        outbox.append(notification(5, .progress))
        #expect(outbox.next(now: at(120)) == .hold(until: at(301), superseded: [notification(3, .progress), notification(4, .progress)]))
        #expect(outbox.next(now: at(301)) == .send(notification(5, .progress), superseded: []), "only the newest held Progress goes")
    }

    @Test("an End or Error never jumps a held Progress, and the last Progress before it is sent")
    func orderKept() {
        var outbox = SessionOutbox()
        outbox.append(notification(1, .progress))
        outbox.completed(notification(1, .progress), acceptedAt: nil)
        #expect(outbox.isEmpty)
        outbox.append(notification(1, .progress))
        _ = outbox.next(now: at(0))
        outbox.completed(notification(1, .progress), acceptedAt: at(0))
        outbox.append(notification(2, .progress))
        outbox.append(notification(3, .progress))
        outbox.append(notification(4, .error))
        outbox.append(notification(5, .progress))
        outbox.append(notification(6, .end))
        #expect(outbox.next(now: at(10)) == .hold(until: at(300), superseded: [notification(2, .progress)]))
        #expect(outbox.next(now: at(300)) == .send(notification(3, .progress), superseded: []))
        outbox.completed(notification(3, .progress), acceptedAt: at(300))
        #expect(outbox.next(now: at(301)) == .send(notification(4, .error), superseded: []), "the Error goes at once")
        outbox.completed(notification(4, .error), acceptedAt: at(301))
        #expect(outbox.next(now: at(302)) == .hold(until: at(600), superseded: []), "the Progress after it waits its window")
        #expect(outbox.next(now: at(600)) == .send(notification(5, .progress), superseded: []))
        outbox.completed(notification(5, .progress), acceptedAt: at(600))
        #expect(outbox.next(now: at(600)) == .send(notification(6, .end), superseded: []))
        // Completing anything but the head changes nothing.
        outbox.completed(notification(99, .end), acceptedAt: at(601))
        #expect(outbox.pending == [notification(6, .end)])
    }

    @Test("the rate limiter lets 100 a minute through, evenly, and a backlog drains at that rate")
    func rateLimit() {
        var limiter = RateLimiter(perMinute: 100, now: at(0))
        var sent: [Double] = []
        var now = 0.0
        while sent.count < 250 {
            if let wait = limiter.acquire(now: at(now)) {
                now = Double((wait - t0).components.seconds) + Double((wait - t0).components.attoseconds) / 1e18
            } else {
                sent.append(now)
            }
        }
        // 250 notifications waiting at once: the first at 0 s, then one every 0.6 s.
        #expect(sent.first == 0)
        #expect(abs(sent[100] - 60) < 0.01, "the 101st goes a minute after the first: \(sent[100])")
        for minute in 0..<2 {
            let inMinute = sent.filter { $0 >= Double(minute) * 60 && $0 < Double(minute + 1) * 60 }.count
            #expect(inMinute <= 100, "minute \(minute): \(inMinute)")
        }
        var quiet = RateLimiter(perMinute: 100, now: at(0))
        #expect(quiet.acquire(now: at(0)) == nil)
        #expect(quiet.acquire(now: at(10)) == nil, "after a quiet spell a token is there")
        #expect(quiet.acquire(now: at(10)) != nil, "but no burst beyond it")
    }

    @Test("backoff grows exponentially to its cap with jitter, honours Retry-After, and the budget ends retries")
    func backoff() {
        let policy = RetryPolicy(base: .seconds(2), cap: .seconds(300), maxAttempts: 5, maxAge: .seconds(3600))
        var random = SystemRandomNumberGenerator()
        for attempt in 1...12 {
            let ceiling = min(300.0, 2.0 * Double(1 << (attempt - 1)))
            for _ in 0..<50 {
                let delay = policy.delay(afterAttempt: attempt, retryAfter: nil, random: &random)
                #expect(delay >= .zero && delay <= .milliseconds(Int64(ceiling * 1000)), "attempt \(attempt): \(delay)")
            }
        }
        let spread = Set((0..<50).map { _ in policy.delay(afterAttempt: 6, retryAfter: nil, random: &random) })
        #expect(spread.count > 10, "jittered, not fixed")
        #expect(policy.delay(afterAttempt: 1, retryAfter: 30, random: &random) >= .seconds(30), "Retry-After is a floor")
        #expect(policy.allowsRetry(attempts: 4, firstAttempt: at(0), now: at(100)))
        #expect(!policy.allowsRetry(attempts: 5, firstAttempt: at(0), now: at(100)), "attempts exhausted")
        #expect(!policy.allowsRetry(attempts: 1, firstAttempt: at(0), now: at(3600)), "too old")
    }
}
