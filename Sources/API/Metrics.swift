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
        var ingest: [IngestKey: UInt64] = [:]
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
    /// - Parameter type: the notification's `Type`, `unknown` when it was refused before that was known.
    func countIngest(_ outcome: String, type: String? = nil) {
        state.withLock { $0.ingest[IngestKey(type: type ?? "unknown", outcome: outcome), default: 0] += 1 }
    }

    /// The metrics counted here, as exposition text.
    func render(into out: inout Exposition) {
        let state = state.withLock { $0 }
        out.family("ledger_http_requests_total", "counter", "HTTP requests answered, by route pattern, method and status.")
        for (key, count) in state.requests.sorted(by: { ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status) }) {
            out.sample("ledger_http_requests_total", [("route", key.route), ("method", key.method), ("status", String(key.status))], String(count))
        }
        let duration = "ledger_http_request_duration_seconds"
        out.family(duration, "histogram", "Time from a whole request to its response head, by route pattern.")
        for (route, histogram) in state.latency.sorted(by: { $0.key < $1.key }) {
            var cumulative: UInt64 = 0
            for (bound, count) in zip(Self.buckets, histogram.counts) {
                cumulative += count
                out.sample(duration + "_bucket", [("route", route), ("le", String(bound))], String(cumulative))
            }
            out.sample(duration + "_bucket", [("route", route), ("le", "+Inf")], String(histogram.count))
            out.sample(duration + "_sum", [("route", route)], String(histogram.sum))
            out.sample(duration + "_count", [("route", route)], String(histogram.count))
        }
        out.family("ledger_ingest_notifications_total", "counter", "Notifications posted to the ingest endpoint, by notification type and outcome.")
        // Every type and outcome from the start, so a rate over a series that appears later is not lost.
        var keys = Set(state.ingest.keys)
        for type in ["Start", "Progress", "End", "Error"] {
            for outcome in ["appended", "replayed"] { keys.insert(IngestKey(type: type, outcome: outcome)) }
        }
        for key in keys.sorted(by: { ($0.type, $0.outcome) < ($1.type, $1.outcome) }) {
            out.sample("ledger_ingest_notifications_total", [("type", key.type), ("outcome", key.outcome)], String(state.ingest[key] ?? 0))
        }
    }

    struct IngestKey: Hashable {
        var type: String
        var outcome: String
    }

    /// A label value with `\`, `"` and line feeds escaped.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Prometheus text exposition: a family's `# HELP` and `# TYPE` lines, then its samples.
struct Exposition {
    private(set) var text = ""

    /// Starts a metric family.
    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    /// One sample; `labels` as `name="value"` pairs, values escaped here.
    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: String) {
        let rendered = labels.isEmpty ? "" : "{" + labels.map { "\($0.0)=\"\(APIMetrics.escape($0.1))\"" }.joined(separator: ",") + "}"
        text += "\(name)\(rendered) \(value)\n"
    }

    /// A family with one unlabelled sample.
    mutating func single(_ name: String, _ type: String, _ help: String, _ value: some CustomStringConvertible) {
        family(name, type, help)
        sample(name, [], value.description)
    }
}
