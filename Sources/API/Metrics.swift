import Foundation
import Synchronization

/// The API's Prometheus metrics, rendered in the text exposition format (version 0.0.4).
///
/// Counted here: requests by route, method and status; request latency by route (a
/// histogram); ingest outcomes. Read at scrape time by `LedgerAPI`: append batches, projection
/// lag, pool use, live-feed subscribers.
public final class APIMetrics: Sendable {
    /// Latency histogram bounds, seconds.
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    private struct RequestKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    private struct Histogram {
        var counts = [UInt64](repeating: 0, count: APIMetrics.buckets.count)
        var sum = 0.0
        var count: UInt64 = 0

        mutating func observe(_ seconds: Double) {
            if let index = APIMetrics.buckets.firstIndex(where: { seconds <= $0 }) { counts[index] += 1 }
            sum += seconds
            count += 1
        }
    }

    private struct State {
        var requests: [RequestKey: UInt64] = [:]
        var latency: [String: Histogram] = [:]
        var ingest: [String: UInt64] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    func observe(route: String, method: String, status: Int, seconds: Double) {
        state.withLock { state in
            state.requests[RequestKey(route: route, method: method, status: status), default: 0] += 1
            state.latency[route, default: Histogram()].observe(seconds)
        }
    }

    /// One ingested notification's outcome: `appended`, `replayed`, `rejected` or `failed`.
    func countIngest(_ outcome: String) {
        state.withLock { $0.ingest[outcome, default: 0] += 1 }
    }

    /// The metrics counted here, as exposition text.
    func render() -> String {
        let state = state.withLock { $0 }
        var out = "# HELP ledger_http_requests_total HTTP requests answered, by route pattern, method and status.\n"
        out += "# TYPE ledger_http_requests_total counter\n"
        for (key, count) in state.requests.sorted(by: { ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status) }) {
            out += "ledger_http_requests_total{route=\"\(Self.escape(key.route))\",method=\"\(Self.escape(key.method))\",status=\"\(key.status)\"} \(count)\n"
        }
        out += "# HELP ledger_http_request_duration_seconds Time from a whole request to its response head, by route pattern.\n"
        out += "# TYPE ledger_http_request_duration_seconds histogram\n"
        for (route, histogram) in state.latency.sorted(by: { $0.key < $1.key }) {
            let label = "route=\"\(Self.escape(route))\""
            var cumulative: UInt64 = 0
            for (bound, count) in zip(Self.buckets, histogram.counts) {
                cumulative += count
                out += "ledger_http_request_duration_seconds_bucket{\(label),le=\"\(bound)\"} \(cumulative)\n"
            }
            out += "ledger_http_request_duration_seconds_bucket{\(label),le=\"+Inf\"} \(histogram.count)\n"
            out += "ledger_http_request_duration_seconds_sum{\(label)} \(histogram.sum)\n"
            out += "ledger_http_request_duration_seconds_count{\(label)} \(histogram.count)\n"
        }
        out += "# HELP ledger_ingest_notifications_total Notifications posted to the ingest endpoint, by outcome.\n"
        out += "# TYPE ledger_ingest_notifications_total counter\n"
        for outcome in ["appended", "replayed", "rejected", "failed"] {
            out += "ledger_ingest_notifications_total{outcome=\"\(outcome)\"} \(state.ingest[outcome] ?? 0)\n"
        }
        return out
    }

    /// A label value with `\`, `"` and line feeds escaped.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
