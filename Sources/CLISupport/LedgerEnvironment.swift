public import ArgumentParser
import Foundation
import Postgres

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

    /// A flag's value if given, else the variable's, else the setting's default; within the
    /// setting's range (`LedgerSetting.all`).
    public func integer(_ variable: String, flag: Int? = nil) throws -> Int {
        let setting = Self.setting(variable)
        guard case .integer(let range) = setting.accepted, let fallback = Int(setting.defaultValue) else {
            preconditionFailure("\(variable) is not an integer setting with a default")
        }
        let chosen: Int
        if let flag {
            chosen = flag
        } else if let text = self[variable] {
            guard let parsed = Int(text) else { throw ValidationError(setting.problem(with: text) ?? "\(variable)=\(text) is not an integer") }
            chosen = parsed
        } else {
            chosen = fallback
        }
        guard range.contains(chosen) else { throw ValidationError("\(variable) must be \(range.lowerBound)…\(range.upperBound), not \(chosen)") }
        return chosen
    }

    /// An integer setting that is off when unset.
    public func optionalInteger(_ variable: String) throws -> Int? {
        guard let text = self[variable] else { return nil }
        if let problem = Self.setting(variable).problem(with: text) { throw ValidationError(problem) }
        return Int(text)
    }

    /// An `on` / `off` setting; anything else is refused, naming it.
    public func onOff(_ variable: String, default value: Bool) throws -> Bool {
        switch self[variable] {
        case nil: return value
        case "on": return true
        case "off": return false
        case let other?: throw ValidationError(Self.setting(variable).problem(with: other) ?? "\(variable)=\(other): use on or off")
        }
    }

    /// Everything wrong with the `LEDGER_*` variables, one line each: names the ledger does not
    /// read (with the nearest it does), retired names, and values a setting does not accept.
    public var problems: [String] {
        var problems: [String] = []
        for (name, value) in values.sorted(by: { $0.key < $1.key }) where name.hasPrefix("LEDGER_") {
            if LedgerSetting.reservedPrefixes.contains(where: name.hasPrefix) { continue }
            if let why = LedgerSetting.retired[name] {
                problems.append("\(name) is \(why)")
                continue
            }
            guard let setting = LedgerSetting.named(name) else {
                let nearest = LedgerSetting.all.map(\.name).min { Self.distance($0, name) < Self.distance($1, name) }
                let hint = nearest.flatMap { Self.distance($0, name) <= 4 ? " (did you mean \($0)?)" : nil } ?? ""
                problems.append("\(name) is not a setting of the ledger\(hint); `error-ledger config check` lists them")
                continue
            }
            if !value.isEmpty, let problem = setting.problem(with: value) { problems.append(problem) }
            if name == "LEDGER_DATABASE_URL", !value.isEmpty, case .failure = ConnectionString.redacted(value) {
                problems.append("LEDGER_DATABASE_URL is not a PostgreSQL URL or conninfo string libpq can parse (postgres://user@host:5432/db)")
            }
        }
        return problems
    }

    /// Throws, naming every problem, when a `LEDGER_*` variable is unknown or its value refused.
    public func check() throws {
        let problems = problems
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
    }

    /// Each setting's value and where it came from (`environment` or `default`), the database
    /// URL's password masked.
    public var effective: [(name: String, value: String, source: String)] {
        LedgerSetting.all.map { setting in
            guard let value = self[setting.name] else { return (setting.name, setting.defaultValue, "default") }
            if case .secretHex = setting.accepted { return (setting.name, "(set, not shown)", "environment") }
            return (setting.name, setting.name == "LEDGER_DATABASE_URL" ? Self.maskingPassword(value) : value, "environment")
        }
    }

    /// A PostgreSQL URL or conninfo as libpq reads it, secrets (the password above all) left out.
    public static func maskingPassword(_ url: String) -> String {
        switch ConnectionString.redacted(url) {
        case .success(let text): text
        // libpq's reason may quote a piece of the string, which may be the password.
        case .failure: "(not a PostgreSQL URL or conninfo string libpq can parse)"
        }
    }

    private static func setting(_ name: String) -> LedgerSetting {
        guard let setting = LedgerSetting.named(name) else { preconditionFailure("\(name) is not in LedgerSetting.all") }
        return setting
    }

    /// Edit distance, for the nearest known name.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}

/// `LEDGER_*` variables the ledger will not start with, each named with why.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let problems: [String]
    public var description: String { problems.joined(separator: "\n") }
}
