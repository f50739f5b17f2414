import ArgumentParser
import CLISupport
import EventStore
import Foundation
import Ingestion
import Ledger
import OICP

struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Validate one notification and append it; print the OICP acknowledgement JSON.",
        discussion: "Exits 0 when the notification is recorded (or was before), 1 when it is refused."
    )

    @OptionGroup var database: DatabaseOptions

    @Argument(help: "A file holding one notification, or - for standard input.")
    var file: String = "-"

    @Option(name: .customLong("idempotency-key"), help: "Replays with the same key store nothing again.")
    var idempotencyKey: String?

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let body = try readInput(file, limit: 1 << 20)
        let store = try await EventStore.open(configuration: .init(url: try database.url(), poolSize: 2, commitLanes: 1), logger: logger)
        defer { store.close() }
        let ingestor = Ingestor(store: store, configuration: try .fromEnvironment(), logger: logger)
        let outcome = try await ingestor.ingest(
            body, context: IngestContext(receivedAt: Date(), client: "cli", idempotencyKey: idempotencyKey, source: "cli")
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(outcome.acknowledgement), as: UTF8.self))
        switch outcome.disposition {
        case .appended(let range):
            printError("appended at position \(range.lastPosition), stream version \(range.streamVersion)")
        case .alreadyAppended(let range):
            printError("already appended at position \(range.lastPosition); nothing stored again")
        case .rejected(let problems):
            for problem in problems { printError(problem.line) }
            throw ExitCode(1)
        }
        for anomaly in outcome.anomalies { printError("anomaly \(anomaly.code): \(anomaly.message)") }
    }
}

/// Reads a whole file, or standard input for `-`, refusing more than `limit` bytes.
func readInput(_ path: String, limit: Int) throws -> [UInt8] {
    let handle = path == "-" ? FileHandle.standardInput : try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    let data = try handle.read(upToCount: limit + 1) ?? Data()
    guard data.count <= limit else { throw InputError(description: "\(path) is larger than \(limit) bytes; a notification is at most 64 KiB") }
    return Array(data)
}

/// A problem with the input itself: reported as `Error: …`, exit 1, without the usage text
/// an argument error gets.
struct InputError: Error, CustomStringConvertible {
    var description: String
}

extension ValidationProblem {
    /// `pointer: message`, with `(body)` for the body as a whole. A problem in the
    /// identification says what is wrong without the value it quotes (`"…"`): these lines go
    /// to standard error, which a service manager keeps as a log.
    var line: String {
        var text = message
        if pointer.hasPrefix("/" + RecordedNotification.identificationMember) {
            text = text.replacing(/"[^"]*"/, with: "\"…\"")
        }
        return "\(pointer.isEmpty ? "(body)" : pointer): \(text)"
    }
}
