import ArgumentParser
import CLISupport
import EventStore
import Foundation
import JSON

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute the event store's hash chains and seals and name every event that does not match (exit status 1).",
        discussion: """
            Each event's hash covers its stored values and the hash of the event before it in its stream;
            each seal covers its events' hashes, in the store's order, and the seal before it. Prints the
            newest seal's chain: keep it outside the database to show later that nothing before it changed.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Flag(name: .customLong("seal"), help: "Seal the events not sealed yet before verifying.") var sealFirst = false
    @Option(name: .customLong("limit"), help: "Print at most this many findings (all are counted).") var limit: Int = 100
    @Option(name: .customLong("format"), help: "text or json.") var format: Format = .text
    @Option(
        name: .customLong("anchor"),
        help: "A head printed by an earlier verify (SEAL:CHAIN) and kept outside the database: that seal must still have that chain. Repeatable."
    )
    var anchors: [String] = []

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    func validate() throws {
        guard (1...100_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 100000") }
        var seen: [Int64: String] = [:]
        for anchor in anchors {
            guard let head = ChainVerification.Head(anchor) else {
                throw ValidationError("--anchor \(anchor) is not SEAL:CHAIN (a seal number, a colon, 64 hexadecimal digits), as verify prints its head")
            }
            if let other = seen.updateValue(head.chain, forKey: head.seal), other != head.chain {
                throw ValidationError("--anchor names seal \(head.seal) twice, with two different chains")
            }
        }
    }

    func run() async throws {
        let logger = try database.bootstrapLogging()
        let url = try database.url()
        if sealFirst {
            let store = try await EventStore.open(configuration: .init(url: url, poolSize: 1, commitLanes: 1), logger: logger)
            defer { store.close() }
            try await store.seal()
        }
        // Without --seal it only reads: a hot standby or a restored backup will do.
        let report = try await EventStore.verifyChains(url: url, anchors: anchors.compactMap(ChainVerification.Head.init), findingLimit: limit)
        switch format {
        case .json:
            var object = JSONObject()
            object["intact"] = .bool(report.isIntact)
            object["events"] = .number(String(report.events))
            object["seals"] = .number(String(report.seals))
            object["sealed_events"] = .number(String(report.sealedEvents))
            object["unsealed_events"] = .number(String(report.unsealedEvents))
            object["retired_seals"] = .number(String(report.retiredSeals))
            object["oldest_unsealed_at"] = report.oldestUnsealedAt.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null
            object["findings"] = .number(String(report.findingCount))
            object["first_findings"] = .array(report.findings.map { .string($0.description) })
            object["head_seal"] = report.head.map { .number(String($0.seal)) } ?? .null
            // A head is worth recording only from an intact store.
            let head = report.isIntact ? report.head : nil
            object["head_chain"] = head.map { .string($0.chain) } ?? .null
            object["head"] = head.map { .string($0.text) } ?? .null
            object["seconds"] = .number(String(format: "%.3f", report.seconds))
            object["events_per_second"] = .number(String(Int(report.eventsPerSecond)))
            print(JSONValue.object(object).serialized())
        case .text:
            for finding in report.findings { print(finding) }
            if report.findingCount > report.findings.count { print("… and \(report.findingCount - report.findings.count) more") }
            print(
                "\(report.isIntact ? "intact" : "NOT INTACT: \(report.findingCount) findings"): \(report.events) events "
                    + "(\(Int(report.eventsPerSecond)) per second), \(report.seals) seals holding \(report.sealedEvents), "
                    + "\(report.unsealedEvents) not sealed yet"
                    + (report.retiredSeals > 0 ? ", \(report.retiredSeals) seals retired with their months (retention)" : "")
                    + (report.oldestUnsealedAt.map { " (the oldest recorded at \(ISO8601DateFormatter().string(from: $0)))" } ?? "")
            )
            if let head = report.head, report.isIntact {
                print("head: \(head.text) (keep it outside the database; verify --anchor \(head.text) checks it)")
            }
        }
        if !report.isIntact { throw ExitCode(1) }
    }
}
