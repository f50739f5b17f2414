public import Forwarding
public import Foundation
import Glibc
import TestSupport

/// A throwaway PKI (`Tests/fakes/make-test-pki.sh`) and the fake Hubject
/// (`Tests/fakes/fake_hubject.py`) on a free loopback port, demanding a client certificate.
public final class FakeHubject: Sendable {
    public let directory: URL
    public let port: Int
    private let process: Process

    /// Where the fake reads its scenario, per request.
    public var scenarioFile: URL { directory.appendingPathComponent("scenario.json") }
    /// One JSON line per request it received.
    public var logFile: URL { directory.appendingPathComponent("requests.jsonl") }

    public static func start() async throws -> FakeHubject {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-hubject-\(UUID().uuidString.prefix(8))")
        let fakes = repositoryRoot().appendingPathComponent("Tests/fakes")
        try await run("/bin/bash", [fakes.appendingPathComponent("make-test-pki.sh").path, directory.path])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", fakes.appendingPathComponent("fake_hubject.py").path, "--cert", directory.appendingPathComponent("server.pem").path,
            "--key", directory.appendingPathComponent("server.key").path, "--client-ca", directory.appendingPathComponent("ca.pem").path,
            "--scenario-file", directory.appendingPathComponent("scenario.json").path,
            "--log", directory.appendingPathComponent("requests.jsonl").path,
        ]
        let portFile = directory.appendingPathComponent("port")
        process.arguments? += ["--port-file", portFile.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var port = 0
        try await eventually(timeout: .seconds(20), "the fake Hubject writes its port") {
            port = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap { Int($0) } ?? 0
            return port > 0
        }
        return FakeHubject(directory: directory, port: port, process: process)
    }

    private init(directory: URL, port: Int, process: Process) {
        self.directory = directory
        self.port = port
        self.process = process
    }

    /// Kills the fake (no wait: `waitUntilExit` would block a cooperative thread; Foundation
    /// reaps the child).
    public func stop() {
        kill(process.processIdentifier, SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Sets how the fake answers from the next request on.
    public func answer(_ scenario: [String: any Sendable]) throws {
        try JSONSerialization.data(withJSONObject: scenario).write(to: scenarioFile)
    }

    /// The requests received so far.
    public func requests() throws -> [[String: Any]] {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
    }

    /// Transport settings for this fake, with the given client certificate (`client` or `stranger`).
    public func configuration(client: String = "client", timeout: Duration = .seconds(5)) -> HubjectTransportConfiguration {
        HubjectTransportConfiguration(
            baseURL: "https://localhost:\(port)/api/oicp", clientCertificate: directory.appendingPathComponent("\(client).pem").path,
            clientKey: directory.appendingPathComponent("\(client).key").path, caBundle: directory.appendingPathComponent("ca.pem").path,
            connectTimeout: .seconds(2), timeout: timeout, connections: 2
        )
    }

    /// Runs a command to completion on a thread of its own.
    public static func run(_ executable: String, _ arguments: [String]) async throws {
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            Thread {
                do {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: executable)
                    process.arguments = arguments
                    try process.run()
                    process.waitUntilExit()
                    continuation.resume(returning: process.terminationStatus)
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
        guard status == 0 else { throw TestFailure("\(executable) \(arguments.joined(separator: " ")) exited \(status)") }
    }
}
