import ArgumentParser
import CLISupport
import EventStore
import Forwarding
import Foundation
import OICP

/// `error-ledger deliveries …`: what `/v1/deliveries` shows and does, from the command line.
struct DeliveriesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deliveries",
        abstract: "Forwarding to Hubject: deliveries by state or session, the backlog, and retrying a dead letter.",
        subcommands: [List.self, Summary.self, Show.self, Retry.self, SkipToHead.self]
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json
    }

    static func open(_ database: DatabaseOptions) async throws -> (EventStore, DeliveryQueries) {
        let store = try await openStore(database)
        return (store, DeliveryQueries(store: store))
    }

    static func id(_ text: String) throws -> UUID {
        guard let id = UUID(uuidString: text) else { throw ValidationError("\"\(text)\" is not a delivery id (the notification's event id, a UUID)") }
        return id
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deliveries, newest first.")

        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this state: \(DeliveryView.states.joined(separator: ", ")).") var state: String?
        @Option(help: "Only this SessionID.") var session: String?
        @Option(help: "Rows per page (at most \(DeliveryQueries.maxLimit)).") var limit: Int = DeliveryQueries.defaultLimit
        @Option(help: "Continue after this cursor (printed on standard error when there is more).") var after: Int64?
        @Option(help: "table or json (one object per line).") var format: Format = .table

        func validate() throws {
            if let state, !DeliveryView.states.contains(state) {
                throw ValidationError("--state \(state): use one of \(DeliveryView.states.joined(separator: ", "))")
            }
            guard (1...DeliveryQueries.maxLimit).contains(limit) else { throw ValidationError("--limit: 1 to \(DeliveryQueries.maxLimit)") }
        }

        func run() async throws {
            let (store, queries) = try await DeliveriesCommand.open(database)
            defer { store.close() }
            let page = try await queries.list(state: state, sessionID: session, operatorIDs: nil, before: after, limit: limit)
            switch format {
            case .json:
                for item in page.items { print(item.json.serialized()) }
            case .table:
                print(["id", "state", "type", "attempts", "status", "session_id", "reason"].joined(separator: "\t"))
                for item in page.items {
                    let reason = (item.reason ?? "").prefix(80)
                    print([item.id.uuidString.lowercased(), item.state, item.notificationType, String(item.attempts), item.statusCode ?? "-", item.sessionID, String(reason)].joined(separator: "\t"))
                }
            }
            printNextCursor(page.next.map(String.init))
        }
    }

    struct Summary: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The backlog, oldest pending age, delivery rate and failures by reason.")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let (store, queries) = try await DeliveriesCommand.open(database)
            defer { store.close() }
            print(try await queries.summary().json.serialized())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One delivery, by its notification's event id.")

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The delivery id.") var id: String

        func run() async throws {
            let (store, queries) = try await DeliveriesCommand.open(database)
            defer { store.close() }
            guard let delivery = try await queries.find(try DeliveriesCommand.id(id)) else {
                printError("no delivery \(id)")
                throw ExitCode(1)
            }
            print(delivery.json.serialized())
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a dead letter again (recorded as DeliveryRetryRequested; the running forwarder picks it up)."
        )

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The delivery id.") var id: String
        @Option(help: "Who asks, for the record.") var by: String = ProcessInfo.processInfo.environment["USER"].map { "cli \($0)" } ?? "cli"

        func run() async throws {
            let (store, queries) = try await DeliveriesCommand.open(database)
            defer { store.close() }
            switch try await queries.requestRetry(try DeliveriesCommand.id(id), requestedBy: by) {
            case .requested(let delivery):
                printError("retry requested for \(delivery.notificationType) of session \(delivery.sessionID)")
            case .notFound:
                printError("no delivery \(id)")
                throw ExitCode(1)
            case .notDead(let delivery):
                printError("only a dead letter can be sent again; this delivery is \(delivery.state)")
                throw ExitCode(1)
            }
        }
    }

    struct SkipToHead: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "skip-to-head",
            abstract: "Forward only what is committed from now on: move the forwarder's intake to the store's end (for a ledger that already holds history)."
        )

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let (store, queries) = try await DeliveriesCommand.open(database)
            defer { store.close() }
            let moved = try await queries.skipToHead()
            if let to = moved.to {
                printError("the forwarder's intake moved from \(moved.from) to the store's end, \(to) (transaction-position): nothing stored before is forwarded")
            } else {
                printError("the forwarder's intake is at the store's end already (\(moved.from)); nothing skipped")
            }
        }
    }
}
