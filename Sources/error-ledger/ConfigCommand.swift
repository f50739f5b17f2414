import ArgumentParser
import CLISupport
import Foundation

/// `error-ledger config check`: the effective configuration, and whether the ledger would start
/// with it.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the LEDGER_* configuration.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Print every setting's effective value and its source (the database password masked).",
            discussion: """
                Exits 1, naming each problem, when a LEDGER_* variable is not a setting of the ledger \
                (names under LEDGER_TEST_ and LEDGER_DEV_ belong to the repository's scripts and are \
                ignored) or its value is not accepted; serve and every other command refuse to start \
                the same way.
                """
        )

        func run() throws {
            let environment = LedgerEnvironment.current
            let rows = environment.effective
            let width = rows.map(\.name.count).max() ?? 0
            for row in rows {
                print(row.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + row.value + (row.source == "default" ? "  (default)" : ""))
            }
            let problems = environment.problems
            guard problems.isEmpty else {
                for problem in problems { printError("error: " + problem) }
                throw ExitCode(1)
            }
        }
    }
}
