public import ArgumentParser
import Foundation

/// The `LEDGER_*` variables, read in one place: every command asks this type, which says in one
/// error which variable is wrong and why. An empty value counts as unset.
public struct LedgerEnvironment: Sendable {
    public init(values: [String: String]) {
        self.values = values
    }

    public let values: [String: String]

    public static var current: LedgerEnvironment { LedgerEnvironment(values: ProcessInfo.processInfo.environment) }

    /// The variable's value, nil when unset or empty.
    public subscript(_ name: String) -> String? {
        values[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A flag's value if given, else the variable's, else `value`; within `range`.
    public func integer(_ flag: Int? = nil, _ variable: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        let chosen: Int
        if let flag {
            chosen = flag
        } else if let text = self[variable] {
            guard let parsed = Int(text) else { throw ValidationError("\(variable)=\(text) is not an integer") }
            chosen = parsed
        } else {
            chosen = value
        }
        guard range.contains(chosen) else { throw ValidationError("\(variable) must be \(range.lowerBound)…\(range.upperBound), not \(chosen)") }
        return chosen
    }

    /// An integer variable that is off when unset.
    public func optionalInteger(_ variable: String, in range: ClosedRange<Int>) throws -> Int? {
        guard self[variable] != nil else { return nil }
        return try integer(nil, variable, default: range.lowerBound, in: range)
    }

    /// An `on` / `off` variable; anything else is refused, naming it.
    public func onOff(_ variable: String, default value: Bool) throws -> Bool {
        switch self[variable] {
        case nil: return value
        case "on": return true
        case "off": return false
        case let other?: throw ValidationError("\(variable)=\(other): use on or off")
        }
    }
}
