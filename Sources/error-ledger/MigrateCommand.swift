import ArgumentParser
import CLISupport
import EventStore
import Foundation
import Postgres

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the missing db/ migrations (each in a transaction; refuses if an applied one changed)."
    )

    @OptionGroup var database: DatabaseOptions

    @Option(name: .customLong("migrations-dir"), help: "Directory of NNNN-name.sql files (env LEDGER_MIGRATIONS_DIR; default ./db).")
    var migrationsDirectory: String?

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let directory = migrationsDirectory ?? LedgerEnvironment.current["LEDGER_MIGRATIONS_DIR"] ?? Self.defaultDirectory()
        let migrator = try Migrator(directory: URL(fileURLWithPath: directory), schema: "ledger", logger: logger)
        let connection = try await PostgresConnection.connect(try database.url(), applicationName: "error-ledger-migrate", logger: logger)
        let applied = try await migrator.migrate(on: connection)
        // A restored store may be ahead of this cluster's transaction counter; fix the clock now.
        let offset = try await connection.run { session in
            try session.query("SELECT ledger.realign_transaction_clock()").decode(Int64?.self, row: 0, column: 0)
        }
        if applied.isEmpty {
            print("database is up to date (\(migrator.migrations.count) migrations)")
        } else {
            for name in applied { print("applied \(name)") }
        }
        if let offset { print("transaction clock realigned after a restore (offset \(offset))") }
    }

    /// `./db` when it exists, else `<prefix>/share/error-ledger/db` next to the executable.
    static func defaultDirectory() -> String {
        if FileManager.default.fileExists(atPath: "db") { return "db" }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/error-ledger/db").path
    }
}
