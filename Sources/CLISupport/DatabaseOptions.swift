public import ArgumentParser
import Foundation
public import Logging

/// Options every command that talks to the database shares.
///
/// | flag | environment | default |
/// | --- | --- | --- |
/// | `--database-url` | `LEDGER_DATABASE_URL` | — (required) |
/// | `--log-level` | `LEDGER_LOG_LEVEL` | `warning` for the CLI |
public struct DatabaseOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(name: .customLong("database-url"), help: "PostgreSQL URL or libpq conninfo (env LEDGER_DATABASE_URL).")
    public var databaseURL: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (env LEDGER_LOG_LEVEL).")
    public var logLevel: String?

    public func url() throws -> String {
        if let databaseURL { return databaseURL }
        if let url = LedgerEnvironment.current["LEDGER_DATABASE_URL"] { return url }
        throw ValidationError("no database: pass --database-url or set LEDGER_DATABASE_URL (postgres://user@host:port/db)")
    }

    /// Checks the `LEDGER_*` variables (`LedgerEnvironment.check`: unknown names and refused
    /// values stop the command, naming them) and sets up logging: `--log-level` or
    /// `LEDGER_LOG_LEVEL` (default `defaultLevel`), `LEDGER_LOG_FORMAT` `text` or `json`.
    public func bootstrapLogging(defaultLevel: Logger.Level = .warning) throws -> Logger {
        let environment = LedgerEnvironment.current
        try environment.check()
        let levelText = logLevel ?? environment["LEDGER_LOG_LEVEL"]
        let level: Logger.Level
        if let levelText {
            guard let parsed = Logger.Level(rawValue: levelText) else {
                throw ValidationError("log level \(levelText) is not accepted: use one of \(LedgerSetting.logLevels.joined(separator: ", "))")
            }
            level = parsed
        } else {
            level = defaultLevel
        }
        let json = environment["LEDGER_LOG_FORMAT"] == "json"
        LoggingSystem.bootstrap { label in
            if json {
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "error-ledger")
    }
}

/// Writes a line to standard error (progress and diagnostics; standard output stays data).
public func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
