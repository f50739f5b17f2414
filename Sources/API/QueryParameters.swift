package import Foundation
package import HTTPServer
import EventStore
import OICP

/// A request's query parameters, checked against the names an endpoint takes: an unknown name
/// (`operator_id` for `operator`, say) is refused rather than silently ignored, so a typo
/// cannot widen a query.
package struct QueryParameters {
    private let target: RequestTarget

    package init(_ target: RequestTarget, allowed: Set<String>) throws(APIProblem) {
        self.target = target
        for (name, _) in target.query where !allowed.contains(name) {
            let takes = allowed.isEmpty ? "no query parameters" : allowed.sorted().joined(separator: ", ")
            throw .invalid(name, "unknown parameter; this endpoint takes \(takes)")
        }
    }

    /// The single value of `name`; a repeated parameter is refused.
    package func string(_ name: String, maxLength: Int = 256) throws(APIProblem) -> String? {
        let values = target.values(name)
        guard values.count <= 1 else { throw .invalid(name, "given \(values.count) times; give it once") }
        guard let value = values.first else { return nil }
        guard !value.isEmpty else { throw .invalid(name, "is empty") }
        guard value.utf8.count <= maxLength else { throw .invalid(name, "is longer than \(maxLength) bytes") }
        return value
    }

    /// An RFC 3339 instant with an offset or `Z` (`2026-11-27T10:00:00Z`, `…T11:00:00.5+01:00`).
    package func instant(_ name: String) throws(APIProblem) -> Date? {
        guard let text = try string(name, maxLength: 64) else { return nil }
        guard let timestamp = Timestamp(text) else {
            throw .invalid(name, "\"\(text)\" is not an RFC 3339 date-time with an offset, e.g. 2026-11-27T10:00:00Z")
        }
        return Date(timeIntervalSince1970: Double(timestamp.epochMilliseconds) / 1000)
    }

    /// An integer in `range`, written in plain decimal digits (no sign, no spaces).
    package func integer(_ name: String, in range: ClosedRange<Int>) throws(APIProblem) -> Int? {
        guard let text = try string(name, maxLength: 20) else { return nil }
        guard let value = plainDecimal(text, as: Int.self), range.contains(value) else {
            throw .invalid(name, "must be an integer from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"")
        }
        return value
    }

    /// `ErrorType` values: the parameter repeated, or comma-separated.
    package func errorTypes(_ name: String) throws(APIProblem) -> [String] {
        var types: [String] = []
        for value in target.values(name) {
            for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                guard let type = ErrorType(rawValue: String(part)) else {
                    let known = ErrorType.allCases.map(\.rawValue).joined(separator: ", ")
                    throw .invalid(name, "\"\(part)\" is not an OICP ErrorType; use \(known) (exact spelling, no space)")
                }
                if !types.contains(type.rawValue) { types.append(type.rawValue) }
            }
        }
        return types
    }

    /// One of an enumeration's raw values; anything else is refused with the values it takes.
    package func choice<Choice: RawRepresentable & CaseIterable>(_ name: String, of _: Choice.Type) throws(APIProblem) -> Choice?
    where Choice.RawValue == String {
        guard let text = try string(name, maxLength: 64) else { return nil }
        guard let choice = Choice(rawValue: text) else {
            throw .invalid(name, "\"\(text)\" is not one of \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return choice
    }

    /// `from` and `to`, checked to be in order.
    package func window() throws(APIProblem) -> (from: Date?, to: Date?) {
        let from = try instant("from")
        let to = try instant("to")
        if let from, let to, from >= to { throw .invalid("to", "must be after from") }
        return (from, to)
    }
}
