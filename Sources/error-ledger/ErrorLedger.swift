import ArgumentParser
import Foundation
import Logging

@main
struct ErrorLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "error-ledger",
        abstract: "Session Error Ledger: the CPO's system of record for OICP 2.3 charging notifications.",
        subcommands: [
            MigrateCommand.self, IngestCommand.self, ImportCommand.self, StreamCommand.self, StatusCommand.self,
            ProjectionsCommand.self, ServeCommand.self, HubjectCommand.self, DeliveriesCommand.self, TimelineCommand.self, SummaryCommand.self, ErrorsCommand.self, TokenCommand.self, BenchCommand.self,
        ]
    )
}

/// Options every command that talks to the database shares.
///
/// | flag | environment | default |
/// | --- | --- | --- |
/// | `--database-url` | `LEDGER_DATABASE_URL` | — (required) |
/// | `--log-level` | `LEDGER_LOG_LEVEL` | `warning` for the CLI |
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL or libpq conninfo (env LEDGER_DATABASE_URL).")
    var databaseURL: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (env LEDGER_LOG_LEVEL).")
    var logLevel: String?

    func url() throws -> String {
        if let databaseURL { return databaseURL }
        if let url = ProcessInfo.processInfo.environment["LEDGER_DATABASE_URL"], !url.isEmpty { return url }
        throw ValidationError("no database: pass --database-url or set LEDGER_DATABASE_URL (postgres://user@host:port/db)")
    }

    func bootstrapLogging() -> Logger {
        let level = logLevel ?? ProcessInfo.processInfo.environment["LEDGER_LOG_LEVEL"] ?? "warning"
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: level) ?? .warning
            return handler
        }
        return Logger(label: "error-ledger")
    }
}

/// Writes a line to standard error (progress and diagnostics; standard output stays data).
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Returns when the process receives SIGINT or SIGTERM (both stop being fatal meanwhile).
func untilTerminated() async {
    let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
    let sources = [SIGINT, SIGTERM].map { number in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { continuation.yield(number) }
        source.resume()
        return source
    }
    for await _ in stream { break }
    // A use after the wait keeps the sources alive until a signal came: a released source stops
    // handling its signal, and the optimizer may release after the last use.
    for source in sources { source.cancel() }
}
