public import Foundation

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
