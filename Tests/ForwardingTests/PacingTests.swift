import Forwarding
import Foundation
import Testing

/// Pacing and retries under a manual clock: instants are made, never waited for.
@Suite("Pacing and retries (manual clock)")
struct PacingTests {
    let t0 = Date(timeIntervalSince1970: 1_795_000_000)

    private func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    private func notification(_ position: Int64, _ kind: PendingNotification.Kind) -> PendingNotification {
        PendingNotification(position: position, kind: kind)
    }

    @Test("a Progress less than 5 minutes after the last accepted one is held; a newer Progress replaces it")
    func progressWindow() {
        var outbox = SessionOutbox()
        outbox.append(notification(1, .start))
        outbox.append(notification(2, .progress))
        #expect(outbox.next(now: at(0)) == .send(notification(1, .start), superseded: []))
        outbox.completed(1, acceptedAt: at(0))
        #expect(outbox.next(now: at(0)) == .send(notification(2, .progress), superseded: []), "the first Progress goes at once")
        outbox.completed(2, acceptedAt: at(1))

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
        outbox.completed(1, acceptedAt: nil)
        #expect(outbox.isEmpty)
        outbox.append(notification(1, .progress))
        _ = outbox.next(now: at(0))
        outbox.completed(1, acceptedAt: at(0))
        outbox.append(notification(2, .progress))
        outbox.append(notification(3, .progress))
        outbox.append(notification(4, .error))
        outbox.append(notification(5, .progress))
        outbox.append(notification(6, .end))
        #expect(outbox.next(now: at(10)) == .hold(until: at(300), superseded: [notification(2, .progress)]))
        #expect(outbox.next(now: at(300)) == .send(notification(3, .progress), superseded: []))
        outbox.completed(3, acceptedAt: at(300))
        #expect(outbox.next(now: at(301)) == .send(notification(4, .error), superseded: []), "the Error goes at once")
        outbox.completed(4, acceptedAt: at(301))
        #expect(outbox.next(now: at(302)) == .hold(until: at(600), superseded: []), "the Progress after it waits its window")
        #expect(outbox.next(now: at(600)) == .send(notification(5, .progress), superseded: []))
        outbox.completed(5, acceptedAt: at(600))
        #expect(outbox.next(now: at(600)) == .send(notification(6, .end), superseded: []))
        // Completing a position the outbox does not hold changes nothing.
        outbox.completed(99, acceptedAt: at(601))
        #expect(outbox.pending == [notification(6, .end)])
    }

    @Test("the rate limiter lets 100 a minute through, evenly, and a backlog drains at that rate")
    func rateLimit() {
        var limiter = RateLimiter(perMinute: 100, now: at(0))
        var sent: [Double] = []
        var now = 0.0
        while sent.count < 250 {
            if let wait = limiter.acquire(now: at(now)) {
                now = wait.timeIntervalSince(t0)
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
        // A Retry-After of ten years (or Int.max) is clamped to the cap, for a retry and for the
        // pause after a 429.
        #expect(policy.delay(afterAttempt: 1, retryAfter: 315_360_000, random: &random) <= policy.cap)
        #expect(policy.delay(afterAttempt: 1, retryAfter: Int(Int32.max), random: &random) <= policy.cap)
        #expect(policy.honoured(retryAfter: .max) == policy.cap)
        #expect(policy.honoured(retryAfter: 0) == .seconds(1))
        #expect(RetryPolicy(cap: .milliseconds(200)).honoured(retryAfter: 2) == .milliseconds(200))
        #expect(policy.allowsRetry(attempts: 4, firstAttempt: at(0), now: at(100)))
        #expect(!policy.allowsRetry(attempts: 5, firstAttempt: at(0), now: at(100)), "attempts exhausted")
        #expect(!policy.allowsRetry(attempts: 1, firstAttempt: at(0), now: at(3600)), "too old")
    }
}

/// The forwarder's in-memory schedule, under a manual clock.
@Suite("Delivery backlog (manual clock)")
struct DeliveryBacklogTests {
    let t0 = Date(timeIntervalSince1970: 1_795_000_000)

    private func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    private func sent(_ decision: DeliveryBacklog.Decision) -> (String, Int64)? {
        if case .send(let session, let notification) = decision { return (session, notification.position) }
        return nil
    }

    @Test("one at a time per session, store order across sessions, and a held session holds up nobody")
    func independentSessions() throws {
        var backlog = DeliveryBacklog()
        backlog.add(PendingNotification(position: 1, kind: .progress), session: "a", lastProgressAccepted: at(0))
        backlog.add(PendingNotification(position: 2, kind: .start), session: "b")
        backlog.add(PendingNotification(position: 3, kind: .error), session: "a")
        backlog.add(PendingNotification(position: 4, kind: .error), session: "b")
        #expect(backlog.count == 4)
        // a's Progress waits out its window; b goes, but only its head.
        let first = try #require(sent(backlog.next(now: at(10))))
        #expect(first == ("b", 2))
        #expect(backlog.next(now: at(10)) == .idle(until: at(300)), "b is in flight, a is held")
        backlog.completed(session: "b", position: 2, acceptedAt: nil)
        #expect(try #require(sent(backlog.next(now: at(11)))) == ("b", 4))
        backlog.completed(session: "b", position: 4, acceptedAt: nil)
        #expect(backlog.next(now: at(12)) == .idle(until: at(300)))
        #expect(try #require(sent(backlog.next(now: at(300)))) == ("a", 1), "the Progress goes when its window opens")
        #expect(backlog.next(now: at(300)) == .idle(until: nil), "and the Error behind it waits for its answer")
        backlog.completed(session: "a", position: 1, acceptedAt: at(300))
        #expect(try #require(sent(backlog.next(now: at(300)))) == ("a", 3))
        backlog.completed(session: "a", position: 3, acceptedAt: nil)
        #expect(backlog.count == 0)
        #expect(backlog.sessionCount == 0, "an empty session is dropped")
    }

    @Test("a retry goes at its time, ahead of nothing else of its session")
    func retryDelay() throws {
        var backlog = DeliveryBacklog()
        backlog.add(PendingNotification(position: 1, kind: .start), session: "a")
        backlog.add(PendingNotification(position: 2, kind: .end), session: "a")
        backlog.add(PendingNotification(position: 3, kind: .start), session: "b")
        #expect(try #require(sent(backlog.next(now: at(0)))) == ("a", 1))
        backlog.retry(session: "a", position: 1, attempts: 1, firstAttemptAt: at(0), notBefore: at(30))
        #expect(try #require(sent(backlog.next(now: at(1)))) == ("b", 3))
        #expect(backlog.next(now: at(1)) == .idle(until: at(30)), "a's End does not jump its Start")
        let retried = backlog.next(now: at(30))
        guard case .send("a", let notification) = retried else { Issue.record("expected a's Start, got \(retried)"); return }
        #expect(notification.position == 1 && notification.attempts == 1 && notification.firstAttemptAt == at(0))
    }

    @Test("Progress held in its window: when it opens only the newest goes, and the older ones are collected as superseded")
    func supersededInWindow() throws {
        var backlog = DeliveryBacklog()
        backlog.add(PendingNotification(position: 10, kind: .progress), session: "a", lastProgressAccepted: at(0))
        #expect(backlog.next(now: at(60)) == .idle(until: at(300)))
        backlog.add(PendingNotification(position: 11, kind: .progress), session: "a")
        backlog.add(PendingNotification(position: 12, kind: .progress), session: "a")
        #expect(backlog.next(now: at(120)) == .idle(until: at(300)))
        #expect(try #require(sent(backlog.next(now: at(300)))) == ("a", 12), "only the newest goes when the window opens")
        #expect(backlog.takeSuperseded().map(\.position) == [10, 11])
        #expect(backlog.takeSuperseded().isEmpty, "collected once")
        #expect(backlog.count == 1, "the one in flight")
    }

    @Test("a delivery opened again (an operator's retry) goes before the younger ones of its session")
    func reopenedInOrder() throws {
        var backlog = DeliveryBacklog()
        backlog.add(PendingNotification(position: 20, kind: .end), session: "a")
        backlog.add(PendingNotification(position: 5, kind: .start), session: "a")
        backlog.add(PendingNotification(position: 5, kind: .start), session: "a")
        #expect(backlog.count == 2, "a position held already is not added twice")
        #expect(try #require(sent(backlog.next(now: at(0)))) == ("a", 5))
    }

    @Test("a dead letter opened again while a younger one of its session is in flight goes next, and the one in flight is not sent twice")
    func reopenedWhileInFlight() throws {
        var backlog = DeliveryBacklog()
        backlog.add(PendingNotification(position: 20, kind: .end), session: "a")
        #expect(try #require(sent(backlog.next(now: at(0)))) == ("a", 20))
        backlog.add(PendingNotification(position: 5, kind: .start), session: "a")
        #expect(backlog.next(now: at(1)) == .idle(until: nil), "the session is in flight")
        backlog.completed(session: "a", position: 20, acceptedAt: nil)
        #expect(try #require(sent(backlog.next(now: at(2)))) == ("a", 5))
        backlog.completed(session: "a", position: 5, acceptedAt: nil)
        #expect(backlog.next(now: at(3)) == .idle(until: nil), "the End that was answered does not go again")
        #expect(backlog.count == 0)
    }

    @Test("a backlog after an outage drains at the configured rate, not as a burst")
    func drainAtRate() {
        var backlog = DeliveryBacklog()
        for position in 1...250 { backlog.add(PendingNotification(position: Int64(position), kind: .error), session: "s\(position)") }
        var limiter = RateLimiter(perMinute: 100, now: at(0))
        var sentAt: [Double] = []
        var now = at(0)
        // The forwarder's step: a token first, then the backlog's next; answers come at once.
        while sentAt.count < 250 {
            if let later = limiter.nextToken(now: now) {
                now = later
                continue
            }
            guard case .send(let session, let notification) = backlog.next(now: now) else { break }
            _ = limiter.acquire(now: now)
            sentAt.append(now.timeIntervalSince(t0))
            backlog.completed(session: session, position: notification.position, acceptedAt: now)
        }
        #expect(sentAt.count == 250)
        for minute in 0..<3 {
            let inMinute = sentAt.filter { $0 >= Double(minute) * 60 && $0 < Double(minute + 1) * 60 }.count
            #expect(inMinute <= 100, "minute \(minute): \(inMinute)")
        }
        #expect(abs(sentAt[249] - 149.4) < 0.1, "one every 0.6 s: the 250th at 149.4 s, not \(sentAt[249])")
    }
}
