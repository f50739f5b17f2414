public import Foundation

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
