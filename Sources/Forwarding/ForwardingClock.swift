public import Foundation

/// The pacing rules (`SessionOutbox`, `RateLimiter`, `RetryPolicy`) are pure values over instants
/// the caller passes, so they are tested under a manual clock. Instants are wall-clock `Date`s, the
/// same clock the delivery rows keep (`next_attempt_at`, `finished_at`), so what the forwarder
/// decides from memory and from the database agrees.

/// The forwarder's notion of now. `WallClock` in production; tests pass a clock they move.
public protocol ForwardingClock: Sendable {
    func now() -> Date
}

/// The system's wall clock.
public struct WallClock: ForwardingClock {
    public init() {}
    public func now() -> Date { Date() }
}

extension Duration {
    var seconds: Double { self / .seconds(1) }
}
