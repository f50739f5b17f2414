import Foundation
import Glibc
import HTTPServer
import Synchronization
import TestSupport
import Testing

/// The status of every response in `text`, in order (bodies here never hold "HTTP/1.1 ").
private func statusCodes(_ text: String) -> [String] {
    statusCodes(Array(text.utf8))
}

/// The status of every response in `bytes`, scanned as bytes: the floods answer thousands.
private func statusCodes(_ bytes: [UInt8]) -> [String] {
    let marker = Array("HTTP/1.1 ".utf8)
    var codes: [String] = []
    var index = 0
    while index + marker.count + 3 <= bytes.count {
        if bytes[index] == marker[0], bytes[index..<(index + marker.count)].elementsEqual(marker) {
            codes.append(String(decoding: bytes[(index + marker.count)..<(index + marker.count + 3)], as: UTF8.self))
            index += marker.count + 3
        } else {
            index += 1
        }
    }
    return codes
}

/// Small limits: the input limit is 1 + 4 + 4 + 64 KiB = 74,752 bytes.
private let smallLimits = HTTPLimits(requestLine: 1024, headerLine: 1024, headerBytes: 4096, body: 4096)

/// `count` pipelined GETs in one write, the first of which blocks the loop thread for 300 ms
/// (handlers run on it), so what follows piles up in the socket before the server reads on;
/// the last asks to close. Returns the server's statistics and the statuses answered.
private func pipelineFlood(count: Int) async throws -> (
    statistics: Server.Statistics, statuses: [String], closed: Bool, limit: Int
) {
    let configuration = HTTPServerConfiguration(port: 0, limits: smallLimits)
    let server = Server(configuration: configuration) { request in
        if request.head.target == "/block" { usleep(300_000) }
        return .text(200, "ok")
    }
    let port = try server.start()
    let client = try Client(port: port)
    let flood =
        "GET /block HTTP/1.1\r\nHost: x\r\n\r\n"
        + String(repeating: "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", count: count - 2)
        + "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    async let sent: Void = client.send(flood)
    let answer = await client.receiveAll()
    await sent
    await server.shutdown()
    return (server.statistics, statusCodes(answer.bytes), answer.closed, configuration.inputLimit)
}

@Suite("HTTP server limits over loopback")
struct ServerLimitsTests {
    // MARK: - Input

    @Test("a connection holds no more unparsed input than its limit, however much a client pipelines at once")
    func inputBounded() async throws {
        let flood = try await pipelineFlood(count: 5_000)
        #expect(flood.statuses.count == 5_000 && flood.statuses.allSatisfy { $0 == "200" }, "every request answered")
        #expect(flood.closed)
        #expect(
            flood.statistics.peakBufferedInput <= flood.limit,
            "held \(flood.statistics.peakBufferedInput) bytes; the limit is \(flood.limit)")
    }

    @Test(
        "pipelined requests are consumed without shifting the buffer each time: bytes moved stay below bytes received")
    func pipelinedLinear() async throws {
        let flood = try await pipelineFlood(count: 5_000)
        #expect(flood.statuses.count == 5_000)
        #expect(flood.statistics.bytesReceived > 100_000)
        #expect(
            flood.statistics.bytesMoved <= flood.statistics.bytesReceived,
            "moved \(flood.statistics.bytesMoved) bytes to parse \(flood.statistics.bytesReceived)")
    }

    @Test(
        "a client sending more than the limits allow gets 414/431/413, the connection closed, and no more than the input limit buffered",
        arguments: [
            ("request line", "GET /" + String(repeating: "a", count: 2 << 20), "414"),
            (
                "header fields",
                "GET / HTTP/1.1\r\nHost: x\r\n"
                    + String(repeating: "X-Flood: " + String(repeating: "f", count: 90) + "\r\n", count: 20_000), "431"
            ),
            (
                "chunked body",
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + String(repeating: "400\r\n" + String(repeating: "b", count: 1024) + "\r\n", count: 2_000),
                "413"
            ),
        ])
    func overLimit(_ case: (name: String, flood: String, status: String)) async throws {
        let configuration = HTTPServerConfiguration(port: 0, limits: smallLimits)
        let server = Server(configuration: configuration) { _ in .text(200, "ok") }
        let port = try server.start()
        let client = try Client(port: port)
        async let sent: Void = client.send(`case`.flood)
        let answer = await client.receiveAll()
        await sent
        let text = String(decoding: answer.bytes, as: UTF8.self)
        #expect(statusCodes(text) == [`case`.status], "\(`case`.name): \(text.prefix(200))")
        #expect(text.contains("Connection: close\r\n"))
        #expect(answer.closed)
        #expect(
            server.statistics.peakBufferedInput <= configuration.inputLimit,
            "\(`case`.name): held \(server.statistics.peakBufferedInput) bytes")
        await server.shutdown()
    }

    // MARK: - End of the client's side

    @Test(
        "a request followed at once by the end of the client's sending side (shutdown(SHUT_WR)) is answered, then the connection closes",
        arguments: [0, 1_000, 65_536 - 52, 131_072 - 53, 196_608 - 53, 262_144 - 53])
    func halfClose(bodySize: Int) async throws {
        // 52 and 53 bytes of head: requests of exactly one to four 64 KiB reads, so the end of
        // the stream is seen by the read right after the last byte.
        let server = Server(configuration: .init(port: 0)) { request in .text(200, "got \(request.body.count)") }
        let port = try server.start()
        let client = try Client(port: port)
        let request =
            Array("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: \(bodySize)\r\n\r\n".utf8)
            + [UInt8](repeating: 0x61, count: bodySize)
        await client.sendAndShutdown(bytes: request)
        let answer = await client.receiveAll()
        let text = String(decoding: answer.bytes, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"), "size \(request.count): \(text.debugDescription)")
        #expect(text.hasSuffix("\r\n\r\ngot \(bodySize)"))
        #expect(answer.closed)
        await server.shutdown()
    }

    @Test("pipelined requests before the end of the client's side are all answered, in order")
    func halfClosePipelined() async throws {
        let server = Server(configuration: .init(port: 0)) { request in .text(200, request.head.target) }
        let port = try server.start()
        let client = try Client(port: port)
        await client.sendAndShutdown(
            bytes: Array(
                "GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\n\r\nGET /incompl"
                    .utf8))
        let answer = await client.receiveAll()
        let text = String(decoding: answer.bytes, as: UTF8.self)
        #expect(statusCodes(text) == ["200", "200", "200"])
        #expect(text.hasSuffix("/three"))
        #expect(answer.closed, "closed once no whole request is left")
        await server.shutdown()
    }

    // MARK: - accept

    @Test("accept failing with EMFILE pauses the listener instead of spinning; open connections are served meanwhile")
    func acceptFailureBacksOff() async throws {
        let failing = Flag()
        let attempts = Counter()
        let server = Server(
            configuration: .init(port: 0, acceptRetryDelay: .milliseconds(100)),
            acceptFault: {
                guard failing.value else { return nil }
                attempts.add(1)
                return EMFILE
            }
        ) { request in .text(200, request.head.target) }
        let port = try server.start()
        let open = try Client(port: port)
        await open.send("GET /before HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(await open.receive { $0.hasSuffix("/before") }.text.hasSuffix("/before"))
        failing.set()
        let waiting = try Client(port: port)  // the kernel completes the handshake; accept fails
        try await eventually(timeout: .seconds(5), "accept is tried") { attempts.value > 0 }
        // A loop that retried at once would try thousands of times in this while.
        // Counted from here, not from the first attempt (the wait above may notice that one late),
        // and bounded by the time that passed: one retry per 100 ms pause and loop, with one more
        // each for where a pause stood when counting began. A spinning loop makes thousands.
        let clock = ContinuousClock()
        let start = clock.now
        let before = attempts.value
        await open.send("GET /during HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(await open.receive { $0.hasSuffix("/during") }.text.hasSuffix("/during"), "served while accept fails")
        try await Task.sleep(until: start + .milliseconds(500))
        let during = attempts.value - before, elapsed = clock.now - start
        let bound = server.configuration.eventLoops * (Int(elapsed / .milliseconds(100)) + 2)
        #expect(during <= bound, "\(during) attempts in \(elapsed), at most \(bound)")
        failing.clear()
        await waiting.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(
            await waiting.receive { $0.hasSuffix("/after") }.text.hasSuffix("/after"),
            "accepted once descriptors are back")
        #expect(server.statistics.acceptFailures == attempts.value)
        await server.shutdown()
    }

    // MARK: - HEAD on a streamed route

    @Test("HEAD on a streamed route sends the head only and never runs, or at once cancels, the stream's producer")
    func headOnStream() async throws {
        let pulled = Flag()
        let pushEnded = Flag()
        let server = Server(configuration: .init(port: 0)) { request in
            switch request.head.target {
            case "/pull":
                // An export: each element is a database read.
                let stream = AsyncThrowingStream<[UInt8], any Error>(unfolding: {
                    pulled.set()
                    return Array("row\n".utf8)
                })
                return HTTPResponse(
                    status: 200, headers: HTTPHeaders([("Content-Type", "text/csv")]), body: .failableStream(stream))
            case "/push":
                // A live feed: a producer that waits long for its first event.
                let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
                continuation.onTermination = { _ in pushEnded.set() }
                Task {
                    try? await Task.sleep(for: .seconds(30))
                    continuation.yield(Array("data: late\n\n".utf8))
                }
                return HTTPResponse(
                    status: 200, headers: HTTPHeaders([("Content-Type", "text/event-stream")]), body: .stream(stream))
            default:
                return .text(200, "next")
            }
        }
        let port = try server.start()
        let client = try Client(port: port)
        await client.send(
            "HEAD /pull HTTP/1.1\r\nHost: x\r\n\r\nHEAD /push HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        let answer = await client.receive { $0.hasSuffix("\r\n\r\nnext") }
        #expect(statusCodes(answer.text) == ["200", "200", "200"], "\(answer.text)")
        let heads = answer.text.components(separatedBy: "\r\n\r\n")
        #expect(
            heads.count == 4 && heads[1].hasPrefix("HTTP/1.1 200") && heads[2].hasPrefix("HTTP/1.1 200"),
            "no body after either head")
        #expect(!answer.text.contains("Transfer-Encoding"))
        #expect(answer.text.contains("Content-Type: text/event-stream\r\n"), "the head GET would send")
        let cancelled =
            (try? await eventually(timeout: .seconds(3), "the live feed's stream is cancelled") { pushEnded.value })
            != nil
        #expect(cancelled, "the live feed's producer was cancelled")
        #expect(!pulled.value, "the export's producer never ran")
        await server.shutdown()
    }

    // MARK: - Write progress and per-address cap

    @Test("a client that stops reading a streamed response is cut off after the write timeout, its stream cancelled")
    func writeTimeout() async throws {
        let ended = Flag()
        let server = Server(configuration: .init(port: 0, writeTimeout: .milliseconds(300))) { _ in
            // At most 8 pieces wait in the stream: the producer outruns the client for good.
            let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingOldest(8))
            continuation.onTermination = { _ in ended.set() }
            let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
            Task {
                while !ended.value {
                    continuation.yield(piece)
                    try? await Task.sleep(for: .milliseconds(1))
                }
            }
            return HTTPResponse(status: 200, body: .stream(stream))
        }
        let port = try server.start()
        let client = try Client(port: port)
        // A small receive buffer: the window closes after a few pieces, not after the megabytes
        // the kernel's autotuning would take in first (slow to fill on a machine under load).
        var small: Int32 = 4096
        setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        await client.send("GET /export HTTP/1.1\r\nHost: x\r\n\r\n")
        // The client reads nothing: the socket buffers fill, then nothing more is written.
        try await eventually(timeout: .seconds(15), "the stalled stream is cancelled") { ended.value }
        await server.shutdown()
    }

    @Test("connections from one address beyond the cap get 503 and are closed; others are served")
    func perAddressCap() async throws {
        let server = Server(configuration: .init(port: 0, maxConnectionsPerAddress: 2)) { request in
            .text(200, request.head.target)
        }
        let port = try server.start()
        let first = try Client(port: port)
        let second = try Client(port: port)
        for (client, path) in [(first, "/1"), (second, "/2")] {
            await client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await client.receive { $0.hasSuffix(path) }.text.hasSuffix(path))
        }
        let third = try Client(port: port)
        let refused = await third.receive()
        #expect(refused.text.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(refused.text)")
        #expect(refused.closed)
        _ = consume first  // closes it
        try await eventually(timeout: .seconds(5), "a place is free again") {
            let fourth = try Client(port: port)
            await fourth.send("GET /4 HTTP/1.1\r\nHost: x\r\n\r\n")
            return await fourth.receive { $0.hasSuffix("/4") }.text.hasSuffix("/4")
        }
        withExtendedLifetime(second) {}
        await server.shutdown()
    }
}
