import ArgumentParser
import CLISupport
import EventStore
import Foundation
import OICP
import Projections

/// Opens the store for a one-shot command: one connection, one commit lane.
func openStore(_ database: DatabaseOptions) async throws -> EventStore {
    let logger = try database.bootstrapLogging()
    return try await EventStore.open(configuration: .init(url: try database.url(), poolSize: 1, commitLanes: 1), logger: logger)
}

/// The `--type` values, repeated or comma-separated, each an OICP ErrorType, once each; refused
/// with the API's words (`QueryParameters.errorTypes`).
func errorTypes(_ options: [String]) throws -> [String] {
    var kept: [String] = []
    for value in options.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }) where !kept.contains(value) {
        guard ErrorType(rawValue: value) != nil else {
            let known = ErrorType.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--type: \"\(value)\" is not an OICP ErrorType; use \(known) (exact spelling, no space)")
        }
        kept.append(value)
    }
    return kept
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
        @Option(help: "Continue after this cursor (printed on standard error when there is more).") var cursor: Int = 0

        func run() async throws {
            let (store, queries) = try await openQueries(database)
            defer { store.close() }
            guard let summary = try await queries.session(sessionID) else {
                printError("session \(sessionID) is not in the ledger (or the projection has not caught up: see `error-ledger projections status`)")
                throw ExitCode(1)
            }
            let page = try await queries.sessionTimeline(sessionID, after: cursor, limit: limit)
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
            try await filter.print { cursor, limit in try await queries.evseErrors(evseID, filter: filter.filter, after: cursor, limit: limit) }
        }
    }
}

/// Filters and paging shared by the error lists, named as the API names its parameters.
struct ErrorFilterOptions: ParsableArguments {
    static let tableColumns = ["received_at", "evse_id", "error_type", "phase", "session_id", "error_additional_info"]

    @Option(help: "Errors received at or after this RFC 3339 instant.") var from: Instant?
    @Option(help: "Errors received before this RFC 3339 instant.") var to: Instant?
    @Option(name: .customLong("type"), help: "ErrorType to keep (ConnectorError, CriticalError); repeatable or comma-separated.")
    var types: [String] = []
    @Option(
        help: """
            table and json: rows per page (1…\(TimelineQueries.maxLimit), default \(TimelineQueries.defaultLimit)). \
            csv and ndjson export every matching row; --limit then caps them.
            """
    )
    var limit: Int?
    @Option(help: "Continue after this cursor (printed on standard error when there is more).") var cursor: String?
    @Option(help: "table, json, csv or ndjson.") var format: OutputFormat = .table

    /// The filter the options give (the types are checked in `validate`, which runs first).
    var filter: ErrorFilter { ErrorFilter(errorTypes: (try? errorTypes(types)) ?? [], from: from?.date, to: to?.date) }

    /// Whether every matching row is printed (csv, ndjson), not one page.
    var exports: Bool { format == .csv || format == .ndjson }

    func validate() throws {
        if let limit, !exports, !(1...TimelineQueries.maxLimit).contains(limit) {
            throw ValidationError("--limit must be 1…\(TimelineQueries.maxLimit)")
        }
        if let limit, exports, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if let from, let to, from.date >= to.date { throw ValidationError("--from must be before --to") }
        _ = try errorTypes(types)
    }

    /// Prints one page (table, json; the next cursor on standard error) or, for csv and ndjson,
    /// every matching row from the cursor on, page by page, with one header: what the API's
    /// export gives.
    func print(_ read: (_ cursor: String?, _ limit: Int) async throws -> Page<ErrorItem>) async throws {
        guard exports else {
            let page = try await read(cursor, limit ?? TimelineQueries.defaultLimit)
            Swift.print(format.render(page.items, columns: format == .table ? Self.tableColumns : nil), terminator: "")
            printNextCursor(page.next)
            return
        }
        if format == .csv { Swift.print(CSV.line(ErrorItem.fieldNames), terminator: "") }
        var next = cursor
        var left = limit ?? .max
        repeat {
            let page = try await read(next, min(left, TimelineQueries.maxLimit))
            for item in page.items {
                Swift.print(format == .csv ? item.csvLine(ErrorItem.fieldNames) : item.json + "\n", terminator: "")
            }
            left -= page.items.count
            next = page.next
        } while next != nil && left > 0
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
    @Option(help: "Print the N EVSEs (1…100) with the most errors between --from and --to instead (default window: 24 h).") var top: Int?

    func validate() throws {
        guard let top else { return }
        guard (1...100).contains(top) else { throw ValidationError("--top must be 1…100") }
        // The ranking counts every error of an EVSE in the window, as the API's top-evses does:
        // these would be silently ignored.
        let refused = [("--type", !filter.types.isEmpty), ("--limit", filter.limit != nil), ("--cursor", filter.cursor != nil)]
            .filter(\.1).map(\.0)
        guard refused.isEmpty else {
            throw ValidationError("--top ranks EVSEs by all their errors in the window; it takes --from, --to, --operator and --format, not \(refused.joined(separator: ", "))")
        }
    }

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
        try await filter.print { cursor, limit in try await queries.errors(errorFilter, after: cursor, limit: limit) }
    }
}
