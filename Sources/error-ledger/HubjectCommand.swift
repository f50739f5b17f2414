import ArgumentParser
import CLISupport
import Forwarding
import Foundation
import OICP

/// `error-ledger hubject send FILE`: one notification through the forwarding transport, to check
/// the mutual-TLS settings before forwarding relies on them.
struct HubjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hubject", abstract: "Talk to Hubject directly: one send, to check the mutual-TLS settings.", subcommands: [Send.self]
    )

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "POST one notification to LEDGER_HUBJECT_URL over mutual TLS; print Hubject's answer and its outcome class.",
            discussion: """
                Reads LEDGER_HUBJECT_URL, LEDGER_HUBJECT_CLIENT_CERT, LEDGER_HUBJECT_CLIENT_KEY and \
                LEDGER_HUBJECT_CA_BUNDLE. Exits 0 when delivered, 1 otherwise, 2 when the settings are wrong. \
                Nothing is recorded in the ledger.
                """
        )

        @Argument(help: "A file holding one notification, or - for standard input.") var file: String = "-"
        @Option(name: .customLong("timeout-seconds"), help: "The whole exchange at most.") var timeout: Int = 30

        func run() async throws {
            let body = try readInput(file, limit: 1 << 16)
            let environment = LedgerEnvironment.current
            let configuration = HubjectTransportConfiguration(
                baseURL: environment["LEDGER_HUBJECT_URL"] ?? "", clientCertificate: environment["LEDGER_HUBJECT_CLIENT_CERT"] ?? "",
                clientKey: environment["LEDGER_HUBJECT_CLIENT_KEY"] ?? "", caBundle: environment["LEDGER_HUBJECT_CA_BUNDLE"] ?? "",
                timeout: .seconds(timeout), connections: 1
            )
            let transport: HubjectTransport
            do {
                transport = try HubjectTransport(configuration: configuration)
            } catch {
                printError("Error: \(error)")
                throw ExitCode(2)
            }
            defer { transport.close() }
            let result = await transport.send(body)
            switch result {
            case .response(let status, let answer, let retryAfter, let latency):
                printError("HTTP \(status) in \(latency)" + (retryAfter.map { ", Retry-After \($0) s" } ?? ""))
                print(String(decoding: answer, as: UTF8.self))
            case .failure(let kind, let message):
                printError("no answer (\(kind.rawValue)): \(message)")
            }
            switch DeliveryOutcome.classify(result) {
            case .delivered: printError("outcome: delivered")
            case .refusedByEMP(let ack): printError("outcome: refused by the EMP, code \(ack.statusCode.code)"); throw ExitCode(1)
            case .retryable(let reason, _): printError("outcome: retryable: \(reason)"); throw ExitCode(1)
            case .deadLetter(let reason): printError("outcome: not retryable (dead letter): \(reason)"); throw ExitCode(1)
            }
        }
    }
}
