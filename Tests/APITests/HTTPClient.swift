import Foundation
import Glibc
import TestSupport

/// A response as the tests see it: status, lower-cased headers, the body with chunked framing
/// removed.
struct Reply: Sendable {
    var status: Int
    var headers: [String: String]
    var body: String

    /// The body parsed as a JSON object.
    var json: [String: Any] {
        get throws {
            guard let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
                throw TestFailure("body is not a JSON object: \(body)")
            }
            return object
        }
    }
}


/// A blocking HTTP/1.1 client on loopback, one connection per request (`Connection: close`).
/// Socket calls run on threads of their own, never on the cooperative pool.
///
/// With `LEDGER_TEST_API_EXCHANGES` set (`./deploy/test` sets it), every exchange is written there as
/// JSON for the OpenAPI conformance check (`Tests/conformance/check_openapi.py`).
struct HTTPClient: Sendable {
    let port: Int

    func get(_ target: String, token: String? = nil, headers: [(String, String)] = []) async throws -> Reply {
        try await send("GET", target, token: token, headers: headers)
    }

    func post(_ target: String, body: [UInt8], token: String? = nil, headers: [(String, String)] = []) async throws -> Reply {
        try await send("POST", target, token: token, headers: headers + [("Content-Type", "application/json")], body: body)
    }

    func send(_ method: String, _ target: String, token: String? = nil, headers: [(String, String)] = [], body: [UInt8] = []) async throws -> Reply {
        let connection = try await Connection.open(port: port)
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        try await connection.write(Array((head + "\r\n").utf8) + body)
        let raw = try await connection.readToEnd()
        let reply = try Self.parse(raw, method: method)
        Recorder.record(method: method, target: target, reply: reply)
        return reply
    }

    /// Opens a streamed response (an SSE feed) and reads from it until `predicate` holds for
    /// the body so far; the connection is then closed.
    func stream(_ target: String, token: String, headers: [(String, String)] = [], until predicate: @escaping @Sendable (String) -> Bool)
        async throws -> Reply
    {
        let connection = try await Connection.open(port: port)
        var head = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        try await connection.write(Array((head + "\r\n").utf8))
        let raw = try await connection.read { bytes in
            guard let reply = try? Self.parse(bytes, method: "GET", complete: false) else { return false }
            return predicate(reply.body)
        }
        let reply = try Self.parse(raw, method: "GET", complete: false)
        Recorder.record(method: "GET", target: target, reply: reply)
        return reply
    }

    /// Splits a response into head and body, undoing chunked framing.
    static func parse(_ bytes: [UInt8], method: String, complete: Bool = true) throws -> Reply {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw TestFailure("no complete head in: \(text.prefix(200))") }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw TestFailure("bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(text[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" {
            var decoded = ""
            var rest = Substring(body)
            while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16) {
                if size == 0 { break }
                let start = lineEnd.upperBound
                let utf8 = rest.utf8
                guard utf8.distance(from: start, to: utf8.endIndex) >= size else {
                    if complete { throw TestFailure("truncated chunk") }
                    break
                }
                let end = utf8.index(start, offsetBy: size)
                decoded += rest[start..<end]
                // By bytes: "\r\n" is one Character, so Character counts would be off.
                // By bytes: "\r\n" is one Character, so Character counts would be off.
                rest = Substring(rest.utf8[end...].dropFirst(2))
            }
            body = decoded
        }
        return Reply(status: status, headers: headers, body: method == "HEAD" ? "" : body)
    }
}

/// One TCP connection; every blocking call on a thread of its own.
private final class Connection: Sendable {
    let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    static func open(port: Int) async throws -> Connection {
        try await onThread {
            guard let fd = connectLoopback(port: port, receiveTimeout: 10) else {
                throw TestFailure("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
            }
            return Connection(fd: fd)
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        try await Self.onThread {
            var offset = 0
            while offset < bytes.count {
                let sent = bytes[offset...].withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard sent > 0 else { throw TestFailure("send: \(String(cString: strerror(errno)))") }
                offset += sent
            }
        }
    }

    func readToEnd() async throws -> [UInt8] {
        try await read { _ in false }
    }

    /// Reads until the peer closes or `enough` holds. Failures: 10 s without a byte, or 30 s in
    /// all (a live feed's heartbeats would otherwise keep a read that never matches alive).
    func read(until enough: @escaping @Sendable ([UInt8]) -> Bool) async throws -> [UInt8] {
        try await Self.onThread {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let deadline = ContinuousClock.now + .seconds(30)
            while true {
                var ready = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
                guard ContinuousClock.now < deadline, poll(&ready, 1, 10_000) > 0 else {
                    throw TestFailure("no answer in time after \(received.count) bytes: \(String(decoding: received.suffix(300), as: UTF8.self))")
                }
                let count = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
                if count == 0 { return received }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw TestFailure("recv after \(received.count) bytes: \(String(cString: strerror(errno)))")
                }
                received += buffer[0..<count]
                if enough(received) { return received }
            }
        }
    }

    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result(catching: body)) }.start()
        }
    }
}

/// Writes exchanges for the OpenAPI conformance check when `LEDGER_TEST_API_EXCHANGES` names a folder.
enum Recorder {
    static let directory: URL? = ProcessInfo.processInfo.environment["LEDGER_TEST_API_EXCHANGES"].flatMap { path in
        path.isEmpty ? nil : URL(fileURLWithPath: path)
    }

    static func record(method: String, target: String, reply: Reply) {
        guard let directory else { return }
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let exchange: [String: Any] = ["method": method, "target": target, "status": reply.status, "headers": reply.headers, "body": reply.body]
        guard let data = try? JSONSerialization.data(withJSONObject: exchange, options: [.sortedKeys]) else { return }
        try? data.write(to: directory.appendingPathComponent("exchange-\(UUID().uuidString).json"))
    }

    static func recordRoutes(_ routes: [(method: String, pattern: String)]) throws {
        guard let directory else { return }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let list = routes.map { ["method": $0.method, "pattern": $0.pattern] }
        try JSONSerialization.data(withJSONObject: list, options: [.sortedKeys]).write(to: directory.appendingPathComponent("routes.json"))
    }
}
