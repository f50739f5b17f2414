import ArgumentParser
import CLISupport
import EventStore
import Foundation
import JSON
import Postgres

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "What the retention period (LEDGER_RETENTION) keeps, and taking out the months past it.",
        discussion: """
            The store is kept in a partition per month, the month each session began (UTC). A month goes \
            whole once every session in it began longer ago than LEDGER_RETENTION: its partition is \
            dropped, never its events deleted one by one. What its sessions counted stays in the EVSE \
            summaries and the statistics; their timelines go with them.
            """,
        subcommands: [Status.self, Apply.self]
    )

    struct RetentionOptions: ParsableArguments {
        @Option(name: .customLong("retention"), help: "Overrides LEDGER_RETENTION: N months or N years.") var retention: String?

        func months(required: Bool) throws -> Int? {
            guard let text = retention ?? LedgerEnvironment.current["LEDGER_RETENTION"] else {
                if required { throw ValidationError("no retention period: set LEDGER_RETENTION (e.g. 24 months) or pass --retention") }
                return nil
            }
            guard let months = LedgerSetting.parseMonths(text) else {
                throw ValidationError("retention \"\(text)\" is not accepted: use N months or N years, at least 1 month (e.g. 24 months)")
            }
            return months
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each month of the store: kept, expired (and what keeps it), or dropped; the oldest event kept."
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var options: RetentionOptions
        @Option(name: .customLong("format"), help: "text or json.") var format: Format = .text

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

        func run() async throws {
            _ = try database.bootstrapLogging()
            let status = try await EventStore.retentionStatus(url: try database.url(), months: try options.months(required: false))
            switch format {
            case .json: print(RetentionCommand.json(status).serialized())
            case .text: RetentionCommand.printText(status)
            }
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take the months past the retention out of the store, oldest first (as the store's owner).",
            discussion: """
                Stops at the first month that cannot go yet and says why: events not sealed, the projector or the \
                forwarder not past them, deliveries to Hubject still open. Run it again (daily, from a timer): \
                a month left half-way is finished first.
                """
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var options: RetentionOptions
        @Option(name: .customLong("requested-by"), help: "Who runs it (kept with each cut).") var requestedBy: String = "cli"
        @Option(name: .customLong("wait"), help: "Seconds to wait for followers to take in a month's last events.") var wait: Int = 60

        func validate() throws {
            guard (0...3600).contains(wait) else { throw ValidationError("--wait must be between 0 and 3600 seconds") }
            guard (1...200).contains(requestedBy.count) else { throw ValidationError("--requested-by must be 1 to 200 characters") }
        }

        func run() async throws {
            _ = try database.bootstrapLogging()
            let months = try options.months(required: true) ?? 0
            let steps: [EventStore.RetentionStep]
            do {
                steps = try await EventStore.applyRetention(
                    url: try database.url(), months: months, requestedBy: requestedBy, wait: .seconds(wait), progress: { print($0) }
                )
            } catch let error as PostgresError {
                // The operator's terminal, not an HTTP answer: the server's own words.
                throw ValidationError("retention stopped: \(error.message)\(error.sqlState.map { " (SQLSTATE \($0))" } ?? "")"
                    + (error.sqlState == "42501" ? ": run it as the owner of the store, as migrate" : ""))
            }
            if steps.isEmpty { print("nothing to drop: every month of the store began within \(months) months") }
            for step in steps where !step.dropped { print("\(step.month): \(step.outcome)") }
            if steps.contains(where: { !$0.dropped }) { throw ExitCode(1) }
        }
    }

    static func printText(_ status: EventStore.RetentionStatus) {
        let formatter = ISO8601DateFormatter()
        print("retention: " + (status.retentionMonths.map { "\($0) months (sessions begun before \(status.cutoff.map(formatter.string) ?? "?") go)" } ?? "none (everything is kept)"))
        print("oldest event kept: " + (status.oldestEventAt.map(formatter.string) ?? "none"))
        print("partitions made ahead: \(status.partitionsAhead) month(s)")
        for month in status.months {
            let what: String
            if month.state == "dropped" {
                what = "dropped \(month.droppedAt.map(formatter.string) ?? ""), \(month.events) events"
            } else if let state = month.state {
                what = "\(state) (apply again to finish), \(month.events) events"
            } else if month.expired {
                what = "expired, \(month.events) events" + (month.blockers.isEmpty
                    ? ": can go" : ": not yet: " + month.blockers.map { "\($0.count) \($0.reason)" }.joined(separator: "; "))
            } else {
                what = "kept, ~\(month.events) events"
            }
            print("\(month.month)  \(what)")
        }
    }

    static func json(_ status: EventStore.RetentionStatus) -> JSONValue {
        let formatter = ISO8601DateFormatter()
        var object = JSONObject()
        object["retention_months"] = status.retentionMonths.map { .number(String($0)) } ?? .null
        object["cutoff"] = status.cutoff.map { .string(formatter.string(from: $0)) } ?? .null
        object["oldest_event_at"] = status.oldestEventAt.map { .string(formatter.string(from: $0)) } ?? .null
        object["partitions_ahead"] = .number(String(status.partitionsAhead))
        object["months"] = .array(status.months.map { month in
            var item = JSONObject()
            item["month"] = .string(month.month)
            item["state"] = .string(month.state ?? (month.expired ? "expired" : "kept"))
            item["events"] = .number(String(month.events))
            item["blockers"] = .array(month.blockers.map { .object(JSONObject([("reason", .string($0.reason)), ("count", .number(String($0.count)))])) })
            item["dropped_at"] = month.droppedAt.map { .string(formatter.string(from: $0)) } ?? .null
            return .object(item)
        })
        return .object(object)
    }
}
