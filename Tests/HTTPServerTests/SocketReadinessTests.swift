import Foundation
import Glibc
import HTTPServer
import Synchronization
import Testing

/// A pipe whose read end handlers wait on.
private final class Pipe: Sendable {
    let read: Int32
    let write: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw ClientError("pipe: \(String(cString: strerror(errno)))") }
        (read, write) = (ends[0], ends[1])
    }

    deinit {
        close(read)
        close(write)
    }

    func send(_ byte: UInt8) {
        var byte = byte
        _ = Glibc.write(write, &byte, 1)
    }

    func receive() -> UInt8? {
        var byte: UInt8 = 0
        return Glibc.read(read, &byte, 1) == 1 ? byte : nil
    }
}

@Suite("Sockets a handler waits on, on its event loop")
struct SocketReadinessTests {
    @Test("a handler waits on a socket of its own without holding a thread, and answers once it is ready")
    func waitsOnItsLoop() async throws {
        let pipe = try Pipe()
        let server = Server(configuration: .init(port: 0, eventLoops: 1)) { _ in
            guard let readiness = SocketReadiness.current else { return .text(500, "no readiness") }
            do {
                try await readiness.wait(for: pipe.read, writable: false)
                return .text(200, "got \(pipe.receive().map(String.init) ?? "nothing")")
            } catch {
                return .text(500, "\(error)")
            }
        }
        let port = try server.start()
        #expect(SocketReadiness.current == nil, "only the server's handlers have one")
        let waiting = try Client(port: port)
        await waiting.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        try await Task.sleep(for: .milliseconds(200))
        #expect(!waiting.hasInput, "nothing to answer before the pipe is readable")
        pipe.send(42)
        let answer = await waiting.receive { $0.hasSuffix("got 42") || $0.contains("500") }
        #expect(answer.text.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(answer.text)")
        #expect(answer.text.hasSuffix("got 42"))
        await server.shutdown()
    }

    @Test("one socket waited on again and again (as a database connection is, statement after statement)")
    func waitsAgain() async throws {
        let pipe = try Pipe()
        let server = Server(configuration: .init(port: 0, eventLoops: 1)) { _ in
            var got: [String] = []
            do {
                for _ in 0..<3 {
                    try await SocketReadiness.current?.wait(for: pipe.read, writable: false)
                    got.append(pipe.receive().map(String.init) ?? "nothing")
                }
            } catch {
                got.append("\(error)")
            }
            return .text(200, got.joined(separator: ","))
        }
        let port = try server.start()
        let client = try Client(port: port)
        await client.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        for byte: UInt8 in [1, 2, 3] {
            try await Task.sleep(for: .milliseconds(50))
            pipe.send(byte)
        }
        let answer = await client.receive { $0.contains("\r\n\r\n") && ($0.hasSuffix("3") || $0.contains("ended") || $0.contains("epoll")) }
        #expect(answer.text.hasSuffix("1,2,3"), "\(answer.text)")
        await server.shutdown()
    }

    @Test("the loop goes on serving other connections while a handler waits")
    func loopNotBlocked() async throws {
        let pipe = try Pipe()
        let server = Server(configuration: .init(port: 0, eventLoops: 1)) { request in
            guard request.head.target == "/wait", let readiness = SocketReadiness.current else { return .text(200, "fast") }
            try? await readiness.wait(for: pipe.read, writable: false)
            return .text(200, "waited \(pipe.receive().map(String.init) ?? "nothing")")
        }
        let port = try server.start()
        let waiting = try Client(port: port)
        await waiting.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        let other = try Client(port: port)
        await other.send("GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
        let fast = await other.receive { $0.hasSuffix("fast") }
        #expect(fast.text.hasSuffix("fast"))
        #expect(!waiting.hasInput)
        pipe.send(7)
        let waited = await waiting.receive { $0.hasSuffix("waited 7") }
        #expect(waited.text.hasSuffix("waited 7"))
        await server.shutdown()
    }

    @Test("a wait still pending when its loop ends fails, instead of leaving its task suspended for good")
    func failsWhenTheLoopEnds() async throws {
        let pipe = try Pipe()
        let outcome = Mutex<String?>(nil)
        let server = Server(configuration: .init(port: 0, shutdownGrace: .milliseconds(200), eventLoops: 1)) { _ in
            do {
                try await SocketReadiness.current?.wait(for: pipe.read, writable: false)
                outcome.withLock { $0 = "ready" }
            } catch {
                outcome.withLock { $0 = "\(error)" }
            }
            return .text(200, "done")
        }
        let port = try server.start()
        let waiting = try Client(port: port)
        await waiting.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        try await Task.sleep(for: .milliseconds(200))
        await server.shutdown()
        let deadline = ContinuousClock.now + .seconds(10)
        while outcome.withLock({ $0 }) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(outcome.withLock { $0 } == "the event loop has ended")
    }
}
