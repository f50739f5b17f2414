public import Foundation

/// When a notification may go to Hubject, by its rules (REFERENCE §5.3, §9) and the ledger's:
/// pure values over instants the caller passes, so they are tested under a manual clock.
///
/// Instants are wall-clock `Date`s, the same clock the delivery rows keep (`next_attempt_at`,
/// `finished_at`), so what the forwarder decides from memory and from the database agrees.

/// The forwarder's notion of now. `WallClock` in production; tests pass a clock they move.
public protocol ForwardingClock: Sendable {
    func now() -> Date
}

/// The system's wall clock.
public struct WallClock: ForwardingClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A notification waiting to be forwarded, in its session's order.
public struct PendingNotification: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case start = "Start", progress = "Progress", end = "End", error = "Error"
    }

    /// The event's global position: its identity, and the order within the session.
    public var position: Int64
    public var kind: Kind
    /// Attempts made so far (after a restart: as the delivery row has them).
    public var attempts: Int
    public var firstAttemptAt: Date?
    /// Not before this instant (a retry's delay); `.distantPast` when it may go at once.
    public var notBefore: Date

    public init(position: Int64, kind: Kind, attempts: Int = 0, firstAttemptAt: Date? = nil, notBefore: Date = .distantPast) {
        self.position = position
        self.kind = kind
        self.attempts = attempts
        self.firstAttemptAt = firstAttemptAt
        self.notBefore = notBefore
    }
}

/// What a session's outbox lets go next.
public enum OutboxDecision: Sendable, Equatable {
    /// Send this one; `superseded` are older Progress notifications it replaces (recorded, not sent).
    case send(PendingNotification, superseded: [PendingNotification])
    /// The head may not go before `until`: a retry's delay, or a Progress inside the 5-minute
    /// window of the last Progress Hubject accepted.
    case hold(until: Date, superseded: [PendingNotification])
    case empty
}

/// One session's notifications not yet forwarded, in store order, sent one at a time.
///
/// Hubject rejects a Progress sent less than `progressInterval` (5 minutes) after the previous one
/// of the session. A Progress inside that window is held; while held, a newer Progress that
/// follows it directly replaces it (only the newest is sent). A Start, End or Error never jumps a
/// held Progress, and the last Progress before them is never skipped: order is kept.
public struct SessionOutbox: Sendable {
    public private(set) var pending: [PendingNotification] = []
    /// When Hubject last accepted a Progress of this session.
    public private(set) var lastProgressAccepted: Date?
    public let progressInterval: TimeInterval

    public init(progressInterval: TimeInterval = 300, lastProgressAccepted: Date? = nil) {
        self.progressInterval = progressInterval
        self.lastProgressAccepted = lastProgressAccepted
    }

    /// Hubject accepted a Progress of this session at `instant` (known from before this outbox).
    public mutating func progressAccepted(at instant: Date) {
        if lastProgressAccepted.map({ $0 < instant }) ?? true { lastProgressAccepted = instant }
    }

    /// Adds a notification in store order (one taken up again by an operator may be older than
    /// those waiting). A position already here is ignored.
    public mutating func append(_ notification: PendingNotification) {
        guard !pending.contains(where: { $0.position == notification.position }) else { return }
        let index = pending.lastIndex { $0.position < notification.position }.map { $0 + 1 } ?? 0
        pending.insert(notification, at: index)
    }

    public var isEmpty: Bool { pending.isEmpty }
    public var head: PendingNotification? { pending.first }

    /// What may go now. Superseded Progress notifications are removed from the outbox and
    /// returned, so the caller records them.
    public mutating func next(now: Date) -> OutboxDecision {
        guard let first = pending.first else { return .empty }
        var superseded: [PendingNotification] = []
        var due = first.notBefore
        if first.kind == .progress {
            // Progress directly followed by Progress: only the newest of the run matters.
            while pending.count > 1, pending[0].kind == .progress, pending[1].kind == .progress {
                superseded.append(pending.removeFirst())
            }
            due = pending[0].notBefore
            if let last = lastProgressAccepted { due = max(due, last.addingTimeInterval(progressInterval)) }
        }
        return now < due ? .hold(until: due, superseded: superseded) : .send(pending[0], superseded: superseded)
    }

    /// The notification sent was answered for good (delivered, refused or dead-lettered): the
    /// next may go. `acceptedAt` is when Hubject accepted it, for a delivered Progress. Found by
    /// position: an older one may have been added ahead of it while it was in flight.
    public mutating func completed(_ position: Int64, acceptedAt: Date?) {
        guard let index = pending.firstIndex(where: { $0.position == position }) else { return }
        let done = pending.remove(at: index)
        if done.kind == .progress, let acceptedAt { progressAccepted(at: acceptedAt) }
    }

    /// The notification's attempt failed and it goes again at `notBefore`.
    public mutating func retry(_ position: Int64, attempts: Int, firstAttemptAt: Date, notBefore: Date) {
        guard let index = pending.firstIndex(where: { $0.position == position }) else { return }
        pending[index].attempts = attempts
        pending[index].firstAttemptAt = firstAttemptAt
        pending[index].notBefore = notBefore
    }
}

/// A token bucket: at most `perMinute` sends in any minute, spread evenly (Hubject's 100
/// ChargingNotifications per minute per partner). A backlog after an outage drains at this rate,
/// not as a burst.
public struct RateLimiter: Sendable {
    public let perMinute: Int
    /// Sends allowed at once after a quiet spell.
    public let burst: Int
    private var tokens: Double
    private var updated: Date

    public init(perMinute: Int = 100, burst: Int = 1, now: Date) {
        self.perMinute = max(1, perMinute)
        self.burst = max(1, burst)
        self.tokens = Double(self.burst)
        self.updated = now
    }

    private var interval: Double { 60.0 / Double(perMinute) }

    private mutating func refill(_ now: Date) {
        guard now > updated else { return }
        tokens = min(Double(burst), tokens + now.timeIntervalSince(updated) / interval)
        updated = now
    }

    /// When the next token is there: nil when one is there now (it is not taken).
    public mutating func nextToken(now: Date) -> Date? {
        refill(now)
        return tokens >= 1 ? nil : now.addingTimeInterval(((1 - tokens) * interval * 1000).rounded(.up) / 1000)
    }

    /// Takes a token if one is there; else says when the next one comes.
    public mutating func acquire(now: Date) -> Date? {
        if let later = nextToken(now: now) { return later }
        tokens -= 1
        return nil
    }
}

/// Retries: capped exponential backoff with full jitter, within a budget of attempts and age,
/// after which the notification is dead-lettered (so a body Hubject answers with a
/// deterministic 500 does not retry forever).
public struct RetryPolicy: Sendable, Hashable {
    public var base: Duration
    public var cap: Duration
    public var maxAttempts: Int
    public var maxAge: Duration

    public init(base: Duration = .seconds(2), cap: Duration = .seconds(300), maxAttempts: Int = 12, maxAge: Duration = .seconds(86_400)) {
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
        self.maxAge = maxAge
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failed ones: a uniform draw from
    /// `[0, min(cap, base · 2^(attempt-1))]`, but never less than Hubject's `Retry-After`
    /// (itself capped: see `honoured(retryAfter:)`).
    public func delay(afterAttempt attempt: Int, retryAfter: Int?, random: inout some RandomNumberGenerator) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(cap.seconds, base.seconds * Double(1 << exponent))
        let jittered = Double.random(in: 0...ceiling, using: &random)
        let floor = retryAfter.map(honoured(retryAfter:))?.seconds ?? 0
        return .milliseconds(Int64(max(jittered, floor) * 1000))
    }

    /// How long a `Retry-After` of `seconds` is honoured: at least a second, at most `cap`. A
    /// partner's header is input like any other; one that says "in ten years" must not stop
    /// forwarding for ten years (every session waits out a 429's `Retry-After`).
    public func honoured(retryAfter seconds: Int) -> Duration {
        min(.seconds(max(seconds, 1)), cap)
    }

    /// Whether another attempt is allowed after `attempts` failed ones, the first at `firstAttempt`.
    public func allowsRetry(attempts: Int, firstAttempt: Date, now: Date) -> Bool {
        attempts < maxAttempts && now.timeIntervalSince(firstAttempt) < maxAge.seconds
    }
}

extension Duration {
    var seconds: Double { self / .seconds(1) }
}
