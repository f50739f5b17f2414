/// When a notification may go to Hubject, by its rules (REFERENCE §5.3, §9) and the ledger's:
/// pure values over instants the caller passes, so they are tested under a manual clock.

/// A notification waiting to be forwarded, in its session's order.
public struct PendingNotification: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case start = "Start", progress = "Progress", end = "End", error = "Error"
    }

    /// The event's global position: its identity, and the order within the session.
    public var position: Int64
    public var kind: Kind

    public init(position: Int64, kind: Kind) {
        self.position = position
        self.kind = kind
    }
}

/// What a session's outbox lets go next.
public enum OutboxDecision: Sendable, Equatable {
    /// Send `next`; `superseded` are older Progress notifications it replaces (recorded, not sent).
    case send(PendingNotification, superseded: [PendingNotification])
    /// The head is a Progress inside the 5-minute window of the last Progress Hubject accepted.
    case hold(until: ContinuousClock.Instant, superseded: [PendingNotification])
    case empty
}

/// One session's notifications not yet forwarded, oldest first, sent one at a time.
///
/// Hubject rejects a Progress sent less than `progressInterval` (5 minutes) after the previous one
/// of the session. A Progress inside that window is held; while held, a newer Progress that
/// follows it directly replaces it (only the newest is sent). A Start, End or Error never jumps a
/// held Progress, and the last Progress before them is never skipped: order is kept.
public struct SessionOutbox: Sendable {
    public private(set) var pending: [PendingNotification] = []
    /// When Hubject last accepted a Progress of this session.
    public private(set) var lastProgressSent: ContinuousClock.Instant?
    public let progressInterval: Duration

    public init(progressInterval: Duration = .seconds(300)) {
        self.progressInterval = progressInterval
    }

    /// Hubject accepted a Progress of this session at `instant` (known from before this outbox).
    public mutating func progressAccepted(at instant: ContinuousClock.Instant) {
        lastProgressSent = instant
    }

    public mutating func append(_ notification: PendingNotification) {
        pending.append(notification)
    }

    public var isEmpty: Bool { pending.isEmpty }

    /// What may go now. Superseded Progress notifications are removed from the outbox and
    /// returned, so the caller records them.
    public mutating func next(now: ContinuousClock.Instant) -> OutboxDecision {
        guard let head = pending.first else { return .empty }
        var superseded: [PendingNotification] = []
        if head.kind == .progress {
            // Progress directly followed by Progress: only the newest of the run matters.
            while pending.count > 1, pending[0].kind == .progress, pending[1].kind == .progress {
                superseded.append(pending.removeFirst())
            }
            if let last = lastProgressSent, now < last + progressInterval {
                return .hold(until: last + progressInterval, superseded: superseded)
            }
        }
        return .send(pending[0], superseded: superseded)
    }

    /// The head was answered (delivered, refused or dead-lettered): the next may go.
    public mutating func completed(_ notification: PendingNotification, acceptedAt: ContinuousClock.Instant?) {
        guard pending.first == notification else { return }
        pending.removeFirst()
        if notification.kind == .progress, let acceptedAt { lastProgressSent = acceptedAt }
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
    private var updated: ContinuousClock.Instant

    public init(perMinute: Int = 100, burst: Int = 1, now: ContinuousClock.Instant) {
        self.perMinute = max(1, perMinute)
        self.burst = max(1, burst)
        self.tokens = Double(self.burst)
        self.updated = now
    }

    private var interval: Double { 60.0 / Double(perMinute) }

    private mutating func refill(_ now: ContinuousClock.Instant) {
        guard now > updated else { return }
        tokens = min(Double(burst), tokens + (now - updated).seconds / interval)
        updated = now
    }

    /// Takes a token if one is there; else says when the next one comes.
    public mutating func acquire(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        refill(now)
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return now + .milliseconds(Int64(((1 - tokens) * interval * 1000).rounded(.up)))
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
    /// `[0, min(cap, base · 2^(attempt-1))]`, but never less than Hubject's `Retry-After`.
    public func delay(afterAttempt attempt: Int, retryAfter: Int?, random: inout some RandomNumberGenerator) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(cap.seconds, base.seconds * Double(1 << exponent))
        let jittered = Double.random(in: 0...ceiling, using: &random)
        let floor = Double(retryAfter ?? 0)
        return .milliseconds(Int64(max(jittered, floor) * 1000))
    }

    /// Whether another attempt is allowed after `attempts` failed ones, the first at `firstAttempt`.
    public func allowsRetry(attempts: Int, firstAttempt: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Bool {
        attempts < maxAttempts && now - firstAttempt < maxAge
    }
}

extension Duration {
    var seconds: Double { self / .seconds(1) }
}
