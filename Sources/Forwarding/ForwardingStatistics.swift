import Foundation

/// What a forwarder has done since it started (for `/metrics`), and what it holds now.
public struct ForwardingStatistics: Sendable {
    /// Upper bounds (seconds) of the latency histograms' buckets.
    public static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600]

    public struct Histogram: Sendable {
        public var counts = [Int](repeating: 0, count: ForwardingStatistics.bounds.count)
        public var sum = 0.0
        public var count = 0

        mutating func observe(_ seconds: Double) {
            if let index = ForwardingStatistics.bounds.firstIndex(where: { seconds <= $0 }) { counts[index] += 1 }
            sum += seconds
            count += 1
        }
    }

    /// Attempts by outcome: `delivered`, `refused_by_emp`, `retryable`, `dead_letter`.
    public var attempts: [String: Int] = [:]
    public var superseded = 0
    /// Hubject's answer time per attempt that got an HTTP response.
    public var requestSeconds = Histogram()
    /// From the notification's commit to Hubject's acknowledgement, per delivered notification.
    public var deliverySeconds = Histogram()
    /// Open deliveries held in memory, and in flight, now.
    public var held = 0
    public var inFlight = 0
    public var role = Forwarder.Role.stopped

    mutating func count(_ outcome: DeliveryOutcome, result: TransportResult, committedAt: Date, answeredAt: Date) {
        let name =
            switch outcome {
            case .delivered: "delivered"
            case .refusedByEMP: "refused_by_emp"
            case .retryable: "retryable"
            case .deadLetter: "dead_letter"
            }
        attempts[name, default: 0] += 1
        if case .response(_, _, _, let elapsed) = result { requestSeconds.observe(elapsed.seconds) }
        if case .delivered = outcome { deliverySeconds.observe(max(0, answeredAt.timeIntervalSince(committedAt))) }
    }
}
