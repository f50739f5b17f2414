import Foundation
import Glibc
@testable import HTTPServer
import Testing
import TestSupport

/// Several event loops on one address (`HTTPServerConfiguration.eventLoops`).
@Suite("HTTP server: several event loops")
struct EventLoopsTests {
    /// `count` connections, each answered once and kept open.
    func openAnswered(_ count: Int, port: Int) async throws -> [Client] {
        var clients: [Client] = []
        for index in 0..<count {
            let client = try Client(port: port)
            await client.send("GET /\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await client.receive(until: { $0.hasSuffix("/\(index)") }).text.hasSuffix("/\(index)"))
            clients.append(client)
        }
        return clients
    }

    @Test("connections spread across four loops, each answered on the loop that accepted it, streams included; the caps hold across loops")
    func fourLoops() async throws {
        let server = Server(configuration: .init(port: 0, maxConnections: 12, maxConnectionsPerAddress: 6, eventLoops: 4)) { request in
            if request.head.target == "/stream" {
                let stream = AsyncStream<[UInt8]> { continuation in
                    for piece in ["a", "b", "c"] { continuation.yield(Array(piece.utf8)) }
                    continuation.finish()
                }
                return HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/plain")]), body: .stream(stream))
            }
            return .text(200, request.head.target)
        }
        let port = try server.start()
        // Six held open at once from one address: the per-address cap, whichever loops took them.
        var held = try await openAnswered(6, port: port)
        let seventh = try Client(port: port)
        let refused = await seventh.receive()
        #expect(refused.text.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(refused.text)")
        held.removeAll()
        // Many connections, one after another: the kernel spreads them over the listeners.
        try await eventually(timeout: .seconds(10), "every connection served") {
            for index in 0..<40 {
                let client = try Client(port: port)
                await client.send("GET /n\(index) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                let answer = String(decoding: await client.receiveAll().bytes, as: UTF8.self)
                guard answer.hasPrefix("HTTP/1.1 200") && answer.hasSuffix("/n\(index)") else { return false }
            }
            return true
        }
        let streamed = try Client(port: port)
        await streamed.send("GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let text = String(decoding: await streamed.receiveAll().bytes, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200") && text.contains("1\r\na\r\n") && text.hasSuffix("0\r\n\r\n"), "\(text)")
        let byLoop = server.statistics.admittedByLoop
        #expect(byLoop.keys.allSatisfy { (0..<4).contains($0) } && byLoop.count > 1, "spread over the loops: \(byLoop)")
        await server.shutdown()
    }

    @Test("a second server on a port one listens on fails to start, as one loop's would; the first keeps every connection")
    func portTaken() async throws {
        let first = Server(configuration: .init(port: 0, eventLoops: 2)) { _ in .text(200, "first") }
        let port = try first.start()
        let second = Server(configuration: .init(port: port, eventLoops: 2)) { _ in .text(200, "second") }
        #expect(throws: ServerError.self) { try second.start() }
        for _ in 0..<10 {
            let client = try Client(port: port)
            await client.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(String(decoding: await client.receiveAll().bytes, as: UTF8.self).hasSuffix("first"))
        }
        await second.shutdown()
        await first.shutdown()
    }

    @Test("the total cap holds across loops: connections beyond it are closed, whichever loop accepts them")
    func totalCap() async throws {
        let server = Server(configuration: .init(port: 0, maxConnections: 3, eventLoops: 4)) { request in .text(200, request.head.target) }
        let port = try server.start()
        var held = try await openAnswered(3, port: port)
        for _ in 0..<4 {
            let extra = try Client(port: port)
            await extra.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = await extra.receiveAll()
            // Closed (or reset: it closes with the request unread) without an answer.
            #expect(answer.bytes.isEmpty, "no answer: \(String(decoding: answer.bytes, as: UTF8.self))")
        }
        held.removeAll()
        try await eventually(timeout: .seconds(5), "a place is free again") {
            let client = try Client(port: port)
            await client.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
            return await client.receive(until: { $0.hasSuffix("/again") }).text.hasSuffix("/again")
        }
        await server.shutdown()
    }
}
