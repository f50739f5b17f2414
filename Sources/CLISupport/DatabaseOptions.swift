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

    public func bootstrapLogging() -> Logger {
        let level = logLevel ?? LedgerEnvironment.current["LEDGER_LOG_LEVEL"] ?? "warning"
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: level) ?? .warning
            return handler
        }
        return Logger(label: "error-ledger")
    }
}

/// Writes a line to standard error (progress and diagnostics; standard output stays data).
public func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
