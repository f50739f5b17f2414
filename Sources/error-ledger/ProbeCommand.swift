import ArgumentParser
import CLISupport
import Foundation
import HTTPServer

/// `error-ledger probe`: GET a probe of a running `serve` and exit 0 on 200, 1 otherwise: the
/// container's HEALTHCHECK, in an image that has no shell and no curl.
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "GET /healthz (or --path) of the local serve; exit 0 when it answers 200 within --timeout.",
        discussion: """
            The address is LEDGER_ADMIN_ADDRESS when set (probes live there too), else LEDGER_HTTP_ADDRESS \
            (default 127.0.0.1:8080); a 0.0.0.0 host is probed on 127.0.0.1.
            """
    )

    @Option(help: "The path to GET.") var path = "/healthz"
    @Option(help: "Seconds to wait for the answer.") var timeout = 3

    func run() throws {
        let environment = LedgerEnvironment.current
        try environment.check()
        let address = environment["LEDGER_ADMIN_ADDRESS"] ?? environment["LEDGER_HTTP_ADDRESS"] ?? "127.0.0.1:8080"
        let (host, port): (String, Int)
        do {
            (host, port) = try LedgerSetting.parseAddress(address)
        } catch {
            throw ValidationError(error.description)
        }
        guard path.hasPrefix("/"), path.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { throw ValidationError("--path must start with / and hold no spaces") }
        guard (1...60).contains(timeout) else { throw ValidationError("--timeout must be 1…60 seconds") }
        let local = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host
        let status = Self.get(host: local, port: port, path: path, timeout: timeout)
        guard status == 200 else {
            printError("probe: \(address)\(path) " + (status.map { "answered \($0)" } ?? "did not answer"))
            throw ExitCode(1)
        }
    }

    /// The status code of `GET path` over HTTP/1.0, or nil when nothing readable came back.
    static func get(host: String, port: Int, path: String, timeout: Int) -> Int? {
        let ipv6 = host.contains(":")
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard Socket.withAddress(host: host, port: port, { connect(fd, $0, $1) }) == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(ipv6 ? "[\(host)]" : host)\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return nil }
        var head = [UInt8](repeating: 0, count: 64)
        var received = 0
        while received < 12 {
            let count = head[received...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += count
        }
        // "HTTP/1.x NNN"
        guard received >= 12, head.starts(with: Array("HTTP/1.".utf8)) else { return nil }
        return Int(String(decoding: head[9..<12], as: UTF8.self))
    }
}
