import ArgumentParser
import CLISupport
import EventStore
import Foundation
import JSON
import Ledger
import OICP

struct StreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Print a stream's events (session-<SessionID>, quarantine-<YYYY-MM-DD>, …), one JSON object per line."
    )

    @OptionGroup var database: DatabaseOptions

    @Argument(help: "The stream id, e.g. session-3fe7378a-238f-4cf3-bca6-de657881f8c2.")
    var stream: String

    @Option(name: .customLong("from-version"), help: "First version to print.")
    var fromVersion: Int = 1

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let store = try await EventStore.open(configuration: .init(url: try database.url(), poolSize: 1, commitLanes: 1), logger: logger)
        defer { store.close() }
        var version = fromVersion
        var printed = 0
        while true {
            let events = try await store.readStream(stream, fromVersion: version, limit: 1000)
            for event in events {
                // Every field escaped by the serializer; data and metadata are stored JSON already.
                let head = JSONValue.object(
                    JSONObject([
                        ("stream_id", .string(event.streamID)),
                        ("stream_version", .number(String(event.streamVersion))),
                        ("global_position", .number(String(event.globalPosition))),
                        ("event_id", .string(event.eventID.uuidString.lowercased())),
                        ("event_type", .string(event.eventType)),
                        ("recorded_at", .string(rfc3339(event.recordedAt))),
                    ])
                ).serialized()
                print(head.dropLast() + #","data":\#(event.data),"metadata":\#(event.metadata)}"#)
            }
            printed += events.count
            guard let last = events.last, events.count == 1000 else { break }
            version = last.streamVersion + 1
        }
        if printed == 0 {
            printError("stream \(stream) has no events")
            throw ExitCode(1)
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print the store's head position, the readers' horizon and the age of the oldest open transaction."
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let store = try await EventStore.open(configuration: .init(url: try database.url(), poolSize: 1, commitLanes: 1), logger: logger)
        defer { store.close() }
        let head = try await store.headPosition()
        let age = try await store.oldestOpenTransactionAge()
        print("head_position \(head.map(String.init) ?? "none")")
        print("oldest_open_transaction_age_seconds \(age.map { String(format: "%.3f", $0 / .seconds(1)) } ?? "none")")
    }
}
