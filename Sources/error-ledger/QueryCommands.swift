import ArgumentParser
import CLISupport
import EventStore
import Foundation
import Projections

/// Opens the store for a one-shot command: one connection, one commit lane.
func openStore(_ database: DatabaseOptions) async throws -> EventStore {
    let logger = try database.bootstrapLogging()
    return try await EventStore.open(configuration: .init(url: try database.url(), poolSize: 1, commitLanes: 1), logger: logger)
}

/// Opens the store for a one-shot query.
func openQueries(_ database: DatabaseOptions) async throws -> (EventStore, TimelineQueries) {
    let store = try await openStore(database)
    return (store, TimelineQueries(store: store))
}

struct TimelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "A session's timeline, or an EVSE's error timeline.",
        subcommands: [SessionTimeline.self, EvseTimeline.self]
    )

    struct SessionTimeline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "session",
            abstract: "Every lifecycle event and error of a session, in order; the summary goes to standard error with --format table."
        )

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The Hubject SessionID.") var sessionID: String
        @Option(help: "table, json, csv or ndjson.") var format: OutputFormat = .table
        @Option(help: "Entries per page (at most \(TimelineQueries.maxLimit)).") var limit: Int = TimelineQueries.maxLimit
        @Option(help: "Continue after this cursor (printed on standard error when there is more).") var after: Int = 0

        func run() async throws {
            let (store, queries) = try await openQueries(database)
            defer { store.close() }
            guard let summary = try await queries.session(sessionID) else {
                printError("session \(sessionID) is not in the ledger (or the projection has not caught up: see `error-ledger projections status`)")
                throw ExitCode(1)
            }
            let page = try await queries.sessionTimeline(sessionID, after: after, limit: limit)
            switch format {
            case .json:
                print(#"{"session":\#(summary.json),"timeline":\#(OutputFormat.json.render(page.items).dropLast()),"next":\#(page.next.map { "\"\($0)\"" } ?? "null")}"#)
            case .table:
                print(format.render(single: summary))
                print(format.render(page.items, columns: ["seq", "received_at", "event_type", "notification_type", "occurred_at", "error_type", "phase", "anomalies", "details"]), terminator: "")
                printNextCursor(page.next)
            case .csv, .ndjson:
                print(format.render(page.items), terminator: "")
                printNextCursor(page.next)
            }
        }
    }

    struct EvseTimeline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "evse", abstract: "An EVSE's errors, newest first.")

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The EvseID.") var evseID: String
        @OptionGroup var filter: ErrorFilterOptions

        func run() async throws {
            let (store, queries) = try await openQueries(database)
            defer { store.close() }
            let page = try await queries.evseErrors(evseID, filter: filter.filter, after: filter.after, limit: filter.limit)
            print(filter.format.render(page.items, columns: filter.format == .table ? ErrorFilterOptions.tableColumns : nil), terminator: "")
            printNextCursor(page.next)
        }
    }
}

/// Filters and paging shared by the error lists.
struct ErrorFilterOptions: ParsableArguments {
    static let tableColumns = ["received_at", "evse_id", "error_type", "phase", "session_id", "error_additional_info"]

    @Option(help: "Errors received at or after this RFC 3339 instant.") var from: Instant?
    @Option(help: "Errors received before this RFC 3339 instant.") var to: Instant?
    @Option(name: .customLong("type"), help: "ErrorType to keep (ConnectorError, CriticalError); repeatable.") var types: [String] = []
    @Option(help: "Rows per page (at most \(TimelineQueries.maxLimit)).") var limit: Int = TimelineQueries.defaultLimit
    @Option(help: "Continue after this cursor (printed on standard error when there is more).") var after: String?
    @Option(help: "table, json, csv or ndjson.") var format: OutputFormat = .table

    var filter: ErrorFilter { ErrorFilter(errorTypes: types, from: from?.date, to: to?.date) }

    func validate() throws {
        guard (1...TimelineQueries.maxLimit).contains(limit) else {
            throw ValidationError("--limit must be 1…\(TimelineQueries.maxLimit)")
        }
        if let from, let to, from.date >= to.date { throw ValidationError("--from must be before --to") }
    }
}

struct SummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary", abstract: "Summaries of read models.", subcommands: [EvseSummaryCommand.self]
    )

    struct EvseSummaryCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "evse",
            abstract: "An EVSE's error counts (all time, last 24 h / 7 d / 30 d), error rate and last session."
        )

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The EvseID.") var evseID: String
        @Option(help: "table, json, csv or ndjson.") var format: OutputFormat = .table

        func run() async throws {
            let (store, queries) = try await openQueries(database)
            defer { store.close() }
            guard let summary = try await queries.evseSummary(evseID) else {
                printError("EVSE \(evseID) has no sessions or errors in the ledger")
                throw ExitCode(1)
            }
            print(format.render(single: summary), terminator: "")
        }
    }
}

struct ErrorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "errors",
        abstract: "The fleet error feed, newest first; with --top N, the EVSEs with the most errors in the window."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Only this OperatorID's EVSEs.") var `operator`: String?
    @OptionGroup var filter: ErrorFilterOptions
    @Option(help: "Print the N EVSEs with the most errors between --from and --to instead (default window: 24 h).") var top: Int?

    func run() async throws {
        let (store, queries) = try await openQueries(database)
        defer { store.close() }
        if let top {
            let to = filter.to?.date ?? Date()
            let from = filter.from?.date ?? to.addingTimeInterval(-86_400)
            let ranking = try await queries.topEvses(from: from, to: to, operatorIDs: `operator`.map { [$0] }, limit: top)
            print(filter.format.render(ranking), terminator: "")
            return
        }
        var errorFilter = filter.filter
        errorFilter.operatorID = `operator`
        let page = try await queries.errors(errorFilter, after: filter.after, limit: filter.limit)
        print(filter.format.render(page.items, columns: filter.format == .table ? ErrorFilterOptions.tableColumns : nil), terminator: "")
        printNextCursor(page.next)
    }
}
