import ArgumentParser
import CLISupport
import Foundation
import OICP
import Projections

/// `error-ledger statistics …`: the API's `/v1/statistics` answers, with the same names, read
/// straight from the database.
struct StatisticsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statistics",
        abstract: "Fault statistics from the hourly rollups: series, fair rankings, an EVSE's reliability, messages.",
        subcommands: [Series.self, Rankings.self, Reliability.self, Messages.self]
    )

    /// The options every statistic takes: its window and how to print it.
    struct WindowOptions: ParsableArguments {
        @Option(help: "From this RFC 3339 instant (default: 30 days before --to), back to the start of its bucket.") var from: Instant?
        @Option(help: "To this RFC 3339 instant (default: now), on to the end of its bucket.") var to: Instant?
        @Option(help: "table, json, csv or ndjson.") var format: OutputFormat = .table

        /// The window in whole buckets of `bucket` in `timeZone`; a refusal names the option.
        func window(bucket: StatisticsBucket = .hour, timeZone: String = "UTC") throws -> StatisticsWindow {
            let to = to?.date ?? Date()
            let from = from?.date ?? to.addingTimeInterval(-StatisticsWindow.defaultSpan)
            do {
                return try StatisticsWindow(from: from, to: to, bucket: bucket, timeZone: timeZone)
            } catch {
                throw ValidationError("--\(error.parameter.replacingOccurrences(of: "_", with: "-")): \(error.reason)")
            }
        }
    }

    /// `--operator`, `--type` (and `--evse` where taken), as the API's parameters.
    struct ScopeOptions: ParsableArguments {
        @Option(help: "Only this OperatorID's EVSEs.") var `operator`: String?
        @Option(name: .customLong("type"), help: "ErrorType to count (ConnectorError, CriticalError); repeatable or comma-separated.")
        var types: [String] = []

        func scope(evse: String? = nil) throws -> StatisticsScope {
            StatisticsScope(evseID: evse, operatorID: `operator`, errorTypes: try errorTypes(types))
        }
    }

    struct Series: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Errors and sessions per bucket, zero-filled; grouped by evse, operator, error_type or phase."
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var scope: ScopeOptions
        @Option(help: "Only this EvseID.") var evse: String?
        @Option(help: "hour, day or week (ISO weeks, from Monday).") var bucket = Choice(StatisticsBucket.day)
        @Option(help: "IANA time zone the buckets are cut in, e.g. Europe/Berlin.") var timeZone: String = "UTC"
        @Option(help: "none, evse, operator, error_type or phase.") var groupBy = Choice(SeriesGrouping.none)

        func run() async throws {
            let request = SeriesRequest(
                window: try window.window(bucket: bucket.value, timeZone: timeZone), groupBy: groupBy.value, scope: try scope.scope(evse: evse)
            )
            let store = try await openStore(database)
            defer { store.close() }
            let series: Projections.Series
            do {
                series = try await StatisticsQueries(store: store).series(request)
            } catch let error as StatisticsError {
                throw ValidationError("--group-by: \(error)")
            }
            print(window.format.render(series.points, columns: SeriesPoint.fieldNames), terminator: "")
        }
    }

    struct Rankings: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "EVSEs by errors per session, or by the share of their sessions with an error or an abrupt end."
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var scope: ScopeOptions
        @Option(help: "errors_per_session, error_session_share or abrupt_end_share.") var by = Choice(RankingMetric.errorsPerSession)
        @Option(help: "Leave out EVSEs with fewer sessions in the window.") var minSessions: Int = RankingRequest.defaultMinSessions
        @Option(help: "EVSEs to print (1…\(StatisticsQueries.maxRankingLimit)).") var limit: Int = RankingRequest.defaultLimit

        func validate() throws {
            guard (1...1_000_000).contains(minSessions) else { throw ValidationError("--min-sessions must be 1…1000000") }
            guard (1...StatisticsQueries.maxRankingLimit).contains(limit) else {
                throw ValidationError("--limit must be 1…\(StatisticsQueries.maxRankingLimit)")
            }
        }

        func run() async throws {
            let request = RankingRequest(window: try window.window(), metric: by.value, minSessions: minSessions, limit: limit, scope: try scope.scope())
            let store = try await openStore(database)
            defer { store.close() }
            let ranking = try await StatisticsQueries(store: store).rankings(request)
            print(window.format.render(ranking, columns: EvseRanking.fieldNames), terminator: "")
        }
    }

    struct Reliability: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One EVSE over the window: sessions, errors by type, abrupt ends, first and last error, sessions since the last."
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var window: WindowOptions
        @Argument(help: "The EvseID.") var evseID: String

        func run() async throws {
            let range = try window.window()
            let store = try await openStore(database)
            defer { store.close() }
            guard let figures = try await StatisticsQueries(store: store).reliability(evseID, window: range) else {
                printError("EVSE \(evseID) has no sessions or errors in the ledger")
                throw ExitCode(1)
            }
            print(window.format.render(single: figures), terminator: "")
        }
    }

    struct Messages: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The most frequent ErrorAdditionalInfo texts per error type in the window."
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var scope: ScopeOptions
        @Option(help: "Only this EvseID.") var evse: String?
        @Option(help: "Messages per error type (1…100).") var limit: Int = MessagesRequest.defaultLimit

        func validate() throws {
            guard (1...100).contains(limit) else { throw ValidationError("--limit must be 1…100") }
        }

        func run() async throws {
            let request = MessagesRequest(window: try window.window(), limit: limit, scope: try scope.scope(evse: evse))
            let store = try await openStore(database)
            defer { store.close() }
            let messages = try await StatisticsQueries(store: store).messages(request)
            print(window.format.render(messages, columns: ErrorMessageCount.fieldNames), terminator: "")
        }
    }
}

/// An option whose value is one of an enumeration's raw values (the API's words).
struct Choice<Value: RawRepresentable & CaseIterable & Sendable>: ExpressibleByArgument where Value.RawValue == String {
    var value: Value

    init(_ value: Value) { self.value = value }

    init?(argument: String) {
        guard let value = Value(rawValue: argument) else { return nil }
        self.value = value
    }

    var defaultValueDescription: String { value.rawValue }
    static var allValueStrings: [String] { Value.allCases.map(\.rawValue) }
}
