import ArgumentParser
import CLISupport
import EventStore
import Foundation
import Ingestion
import JSON
import Ledger
import Postgres

struct EraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Erase a driver's identification: delete the keys of everything stored with it and record the erasure.",
        discussion: """
            The events stay (append-only, chained, counted); the bodies sealed under the identification's keys \
            cannot be read any more, by anyone, nor from a backup taken afterwards. A notification not yet \
            forwarded goes to Hubject without its Identification. The erasure is recorded as an \
            IdentificationErased event in the stream `erasures-YYYY-MM` (one a month), with the identification's keyed hash and who \
            asked, never the value. Notifications stored before db/0019 keep their identification in the clear.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(name: .customLong("uid"), help: "An RFID card's UID (hexadecimal).") var uid: String?
    @Option(name: .customLong("evco-id"), help: "An EVCO-ID (contract id), with or without separators.") var evcoID: String?
    @Option(name: .customLong("requested-by"), help: "Who asked (kept in the erasure's event), e.g. a ticket number.") var requestedBy: String = "cli"

    func validate() throws {
        guard (uid == nil) != (evcoID == nil) else { throw ValidationError("name one identification: --uid or --evco-id") }
        if let uid, let reason = IdentificationErasure.validate(uid, kind: .uid) { throw ValidationError("--uid \(reason)") }
        if let evcoID, let reason = IdentificationErasure.validate(evcoID, kind: .evcoID) { throw ValidationError("--evco-id \(reason)") }
        let (kind, value) = uid.map { (IdentificationSubjects.Kind.uid, $0) } ?? (.evcoID, evcoID ?? "")
        if let reason = IdentificationErasure.validate(requestedBy: requestedBy, erasing: value, kind: kind) {
            throw ValidationError("--requested-by \(reason)")
        }
    }

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let store = try await EventStore.open(configuration: .init(url: try database.url(), poolSize: 2, commitLanes: 1), logger: logger)
        defer { store.close() }
        let ingestor = Ingestor(store: store, configuration: try .fromEnvironment(), logger: logger)
        let (kind, value) = uid.map { (IdentificationSubjects.Kind.uid, $0) } ?? (.evcoID, evcoID ?? "")
        let outcome = try await ingestor.erase(kind, value: value, requestedBy: requestedBy)
        print(outcome.json)
    }
}

extension Ingestor.Configuration {
    /// The ingest settings the environment gives (`LEDGER_*`).
    static func fromEnvironment(_ environment: LedgerEnvironment = .current) throws -> Ingestor.Configuration {
        var configuration = Ingestor.Configuration(
            undigestedEventsAreReplays: try environment.onOff("LEDGER_INGEST_UNDIGESTED_REPLAYS", default: false),
            errorReplayWindow: .seconds(try environment.integer("LEDGER_ERROR_REPLAY_WINDOW_SECONDS"))
        )
        if let hex = environment["LEDGER_IDENTIFICATION_PEPPER"] {
            guard let bytes = Hex.decode(hex.lowercased()), let pepper = IdentificationPepper(bytes: bytes) else {
                throw ValidationError("LEDGER_IDENTIFICATION_PEPPER is not accepted: use at least 64 hexadecimal digits")
            }
            configuration.identificationPepper = pepper
        }
        return configuration
    }
}
