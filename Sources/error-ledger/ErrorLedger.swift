import ArgumentParser
import CEpoll
import CLISupport
import Foundation
import Logging

@main
struct ErrorLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "error-ledger",
        abstract: "Session Error Ledger: the CPO's system of record for OICP 2.3 charging notifications.",
        version: LedgerVersion.current,
        subcommands: [
            MigrateCommand.self, IngestCommand.self, ImportCommand.self, EraseCommand.self, StreamCommand.self, StatusCommand.self,
            ProjectionsCommand.self, ServeCommand.self, HubjectCommand.self, DeliveriesCommand.self, TimelineCommand.self, SummaryCommand.self, ErrorsCommand.self, StatisticsCommand.self,
            TokenCommand.self,
            VerifyCommand.self, RetentionCommand.self, ConfigCommand.self, ProbeCommand.self,
        ]
    )
}

/// Ends a long-running command once every service has stopped, with status 0 and without the C
/// libraries' exit handlers. Those would run while libpq's and libcurl's threads may still be
/// releasing connections on their own queues, and OpenSSL's handler frees its global state
/// under them: `serve` once crashed on SIGTERM that way (SIGSEGV in libcrypto, after "stopped",
/// in a fault-injection run). Nothing is left to write: acknowledgements are durable and the log
/// writes unbuffered.
func leaveProcess() -> Never {
    fflush(nil)  // every C stream (stdout, stderr)
    _exit(0)
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

/// At most two malloc arenas (glibc), unless `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` says otherwise.
///
/// glibc gives threads that contend for malloc arenas of their own, up to eight per core, and
/// keeps what they held: `serve` (two event loops, the database and handler threads) peaked at
/// 195 MB over `./deploy/bench-api` (2,000 idle connections, 64 ingesting) and held 140 MB
/// idle; with two arenas 89 and 84 MB, at the same request rates (docs/benchmarks.md).
func limitMallocArenas() {
    let environment = ProcessInfo.processInfo.environment
    guard environment["MALLOC_ARENA_MAX"] == nil, environment["GLIBC_TUNABLES"]?.contains("arena_max") != true else { return }
    _ = cepoll_limit_malloc_arenas(2)
}
