import HTTPServer
import Testing

/// Feeds `text` to a fresh parser in pieces cut at `cuts`, and collects every event, or the error.
private func parse(_ text: String, cuts: [Int] = [], limits: HTTPLimits = HTTPLimits()) -> Result<[HTTPParseEvent], HTTPParseError> {
    let bytes = Array(text.utf8)
    var parser = HTTPRequestParser(limits: limits)
    var buffer: [UInt8] = []
    var events: [HTTPParseEvent] = []
    var start = 0
    for end in cuts.sorted() + [bytes.count] where end >= start {
        buffer += bytes[start..<end]
        start = end
        do {
            while let event = try parser.parse(&buffer) { events.append(event) }
        } catch {
            return .failure(error)
        }
    }
    return .success(events)
}

/// The whole requests among `events`.
private func requests(_ events: [HTTPParseEvent]) -> [HTTPRequest] {
    events.compactMap { if case .request(let request) = $0 { request } else { nil } }
}

private func status(of text: String, limits: HTTPLimits = HTTPLimits()) -> Int? {
    if case .failure(let error) = parse(text, limits: limits) { error.status } else { nil }
}

@Suite("HTTP/1.1 request parser (RFC 9112)")
struct HTTPRequestParserTests {
    static let get = "GET /v1/evses/DE%2AA36%2AE0001%2A1/errors?limit=10 HTTP/1.1\r\nHost: ledger\r\nAccept: text/csv\r\n\r\n"
    static let post =
        "POST /api/oicp/notificationmgmt/v11/charging-notifications HTTP/1.1\r\nHost: ledger\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"Type\":\"Start\"}"
    static let chunked =
        "POST /x HTTP/1.1\r\nHost: ledger\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-Field: ok\r\n\r\n"

    @Test("a GET, a POST with Content-Length and a chunked POST parse the same whatever the bytes' split",
          arguments: [get, post, chunked])
    func everySplit(text: String) throws {
        let whole = try parse(text).get()
        #expect(whole.count == 2, "a head, then the request")
        for cut in 0...text.utf8.count {
            let split = try parse(text, cuts: [cut]).get()
            #expect(split == whole, "split at byte \(cut)")
        }
        // And one byte at a time.
        #expect(try parse(text, cuts: Array(0...text.utf8.count)).get() == whole)
    }

    @Test("the parts of a request come out as sent")
    func fields() throws {
        let get = try #require(requests(try parse(Self.get).get()).first)
        #expect(get.head.method == "GET")
        #expect(get.head.target == "/v1/evses/DE%2AA36%2AE0001%2A1/errors?limit=10")
        #expect(get.head.version == .http1_1)
        #expect(get.head.headers["accept"] == "text/csv", "names compare without case")
        #expect(get.head.framing == .none)
        #expect(get.head.keepAlive)
        let post = try #require(requests(try parse(Self.post).get()).first)
        #expect(post.body == Array(#"{"Type":"Start"}"#.utf8))
        #expect(post.head.framing == .length(16))
        let chunked = try #require(requests(try parse(Self.chunked).get()).first)
        #expect(chunked.body == Array("hello world".utf8))
        #expect(chunked.head.framing == .chunked)
    }

    @Test("a field value is kept byte for byte: ASCII as it is, obs-text (0x80–0xFF) as ISO-8859-1, whitespace around it trimmed")
    func fieldValueBytes() throws {
        var bytes = Array("GET / HTTP/1.1\r\nHost: x\r\nX-Plain: \t a b+c%41 \r\nX-Latin: caf".utf8)
        bytes += [0xE9, 0x20, 0xFF]
        bytes += Array("\r\n\r\n".utf8)
        var parser = HTTPRequestParser(limits: HTTPLimits())
        var buffer = bytes
        var events: [HTTPParseEvent] = []
        while let event = try parser.parse(&buffer) { events.append(event) }
        let request = try #require(requests(events).first)
        #expect(request.head.headers["x-plain"] == "a b+c%41")
        #expect(request.head.headers["x-latin"] == "caf\u{E9} \u{FF}")
    }

    @Test("pipelined requests come out one by one, in order")
    func pipelining() throws {
        let all = try parse(Self.get + Self.post + Self.chunked + Self.get).get()
        #expect(requests(all).map(\.head.method) == ["GET", "POST", "POST", "GET"])
        #expect(all.count == 8)
    }

    @Test("keep-alive: HTTP/1.1 unless 'close', HTTP/1.0 only with 'keep-alive'; Expect: 100-continue is seen with the head")
    func connectionAndExpect() throws {
        let close = try #require(requests(try parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").get()).first)
        #expect(!close.head.keepAlive)
        let old = try #require(requests(try parse("GET / HTTP/1.0\r\n\r\n").get()).first)
        #expect(!old.head.keepAlive)
        let oldKept = try #require(requests(try parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").get()).first)
        #expect(oldKept.head.keepAlive)
        let events = try parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").get()
        guard case .head(let head)? = events.first else {
            Issue.record("no head before the body: \(events)")
            return
        }
        #expect(head.expectsContinue)
        #expect(events.count == 1, "the body has not arrived")
    }

    @Test("empty lines before a request line are skipped, a few of them")
    func leadingEmptyLines() throws {
        #expect(requests(try parse("\r\n\r\n" + Self.get).get()).count == 1)
        #expect(status(of: String(repeating: "\r\n", count: 5) + Self.get) == 400)
    }

    // MARK: - Smuggling and framing

    @Test("framing that could be read two ways is refused", arguments: [
        ("Transfer-Encoding with Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("conflicting Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
        ("Content-Length list that disagrees", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!", 400),
        ("signed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400),
        ("hex Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400),
        ("empty Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400),
        ("chunked not last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("an unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("whitespace before the colon", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  continued\r\n\r\n", 400),
        ("bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400),
        ("bare CR", "GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n", 400),
        ("NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n", 400),
        ("a name that is not a token", "GET / HTTP/1.1\r\nHost: a\r\nX(1): b\r\n\r\n", 400),
        ("no Host in HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400),
        ("two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("a malformed chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n", 400),
        ("a chunk size that overflows", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
        ("chunk data longer than its size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400),
        ("two spaces in the request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("a lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
        ("HTTP/2.0 over HTTP/1 framing", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("a method that is not a token", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("a space in the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ])
    func refused(_ case: (name: String, text: String, status: Int)) {
        #expect(status(of: `case`.text) == `case`.status, "\(`case`.name)")
    }

    @Test("a bare LF or a bare CR anywhere in the head is refused as such", arguments: [
        "GET / HTTP/1.1\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\n",
        "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
    ])
    func lineEndings(text: String) {
        guard case .failure(let error) = parse(text) else {
            Issue.record("accepted: \(text.debugDescription)")
            return
        }
        #expect(error.status == 400)
        #expect(error.reason.contains("bare"), "\(error.reason)")
    }

    @Test("a refusal is the same fed a byte at a time: an unfinished line is resumed, not rescanned, and nothing is skipped",
          arguments: [
            "GET / HTTP/1.1\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\n",
            "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\rx\r\n",
            "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 8189) + "\r\r\n\r\n",
          ])
    func refusalsByteByByte(text: String) {
        guard case .failure(let whole) = parse(text) else {
            Issue.record("accepted: \(text.prefix(60).debugDescription)")
            return
        }
        guard case .failure(let bytewise) = parse(text, cuts: Array(0...text.utf8.count)) else {
            Issue.record("accepted byte by byte: \(text.prefix(60).debugDescription)")
            return
        }
        #expect(bytewise == whole)
    }

    @Test("identical repeated Content-Length values are one length (RFC 9110 §8.6)")
    func repeatedContentLength() throws {
        let request = try #require(requests(try parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok").get()).first)
        #expect(request.body == Array("ok".utf8))
    }

    // MARK: - Limits, one test each

    @Test("a request line over the limit: 414")
    func requestLineLimit() {
        let limits = HTTPLimits(requestLine: 64)
        #expect(status(of: "GET /" + String(repeating: "a", count: 80) + " HTTP/1.1\r\nHost: a\r\n\r\n", limits: limits) == 414)
        #expect(status(of: "GET /" + String(repeating: "a", count: 40) + " HTTP/1.1\r\nHost: a\r\n\r\n", limits: limits) == nil)
        // Refused before the line ends: a client cannot make the server buffer without end.
        #expect(status(of: "GET /" + String(repeating: "a", count: 80), limits: limits) == 414)
    }

    @Test("one header line over the limit: 431")
    func headerLineLimit() {
        let limits = HTTPLimits(headerLine: 64)
        #expect(status(of: "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 80) + "\r\n\r\n", limits: limits) == 431)
        #expect(status(of: "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 80), limits: limits) == 431)
    }

    @Test("all header lines over the limit: 431")
    func headerBytesLimit() {
        let limits = HTTPLimits(headerBytes: 100)
        let fields = (0..<10).map { "X-\($0): 0123456789\r\n" }.joined()
        #expect(status(of: "GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n", limits: limits) == 431)
    }

    @Test("too many header fields: 431")
    func headerCountLimit() {
        let limits = HTTPLimits(headerCount: 5)
        let fields = (0..<5).map { "X-\($0): 1\r\n" }.joined()
        #expect(status(of: "GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n", limits: limits) == 431)
        #expect(status(of: "GET / HTTP/1.1\r\nHost: a\r\n" + (0..<4).map { "X-\($0): 1\r\n" }.joined() + "\r\n", limits: limits) == nil)
    }

    @Test("a body over the limit: 413, by Content-Length before it is read, and by chunks as they add up")
    func bodyLimit() {
        let limits = HTTPLimits(body: 10)
        #expect(status(of: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", limits: limits) == 413)
        #expect(status(of: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits) == nil)
        #expect(status(of: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n", limits: limits) == 413)
        #expect(status(of: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", limits: limits) == 400)
    }

    @Test("a chunk line with an overlong extension: 400")
    func chunkExtensionLimit() {
        let limits = HTTPLimits(chunkExtension: 16)
        #expect(status(of: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;" + String(repeating: "e", count: 40) + "\r\n", limits: limits) == 400)
    }

    @Test("too many trailer fields: 431")
    func trailerCountLimit() {
        let limits = HTTPLimits(headerCount: 3)
        let trailers = (0..<4).map { "T-\($0): 1\r\n" }.joined()
        #expect(status(of: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + trailers + "\r\n", limits: limits) == 431)
    }
}

@Suite("HTTP/1.1 request parser: costs, consumption and the request target")
struct HTTPRequestParserCostTests {
    @Test("a body of one-byte chunks is appended in place: its storage moves only as it grows, not once per chunk")
    func chunkedBodyInPlace() throws {
        var parser = HTTPRequestParser()
        var buffer = Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        guard case .head? = try parser.parse(&buffer) else {
            Issue.record("no head")
            return
        }
        let chunks = 4_096
        var moves = 0
        var address = parser.bodyStorageAddress
        for _ in 0..<chunks {
            buffer += Array("1\r\nx\r\n".utf8)
            #expect(try parser.parse(&buffer) == nil)
            if parser.bodyStorageAddress != address {
                moves += 1
                address = parser.bodyStorageAddress
            }
        }
        // Doubling capacity: about log2(4096) = 12 moves. A copy per append: 4,096.
        #expect(moves <= 24, "the body moved \(moves) times in \(chunks) chunks")
        buffer += Array("0\r\n\r\n".utf8)
        guard case .request(let request)? = try parser.parse(&buffer) else {
            Issue.record("no request")
            return
        }
        #expect(request.body == [UInt8](repeating: UInt8(ascii: "x"), count: chunks))
    }

    @Test("parse(_:from:) consumes by moving the index, the buffer untouched, and finds what parse(&buffer) finds")
    func parseFromIndex() throws {
        let text = [HTTPRequestParserTests.get, HTTPRequestParserTests.post, HTTPRequestParserTests.chunked, HTTPRequestParserTests.get]
            .joined()
        let bytes = Array(text.utf8)
        var parser = HTTPRequestParser()
        var index = 0
        var events: [HTTPParseEvent] = []
        while let event = try parser.parse(bytes, from: &index) { events.append(event) }
        #expect(index == bytes.count)
        var reference = HTTPRequestParser()
        var buffer = bytes
        var expected: [HTTPParseEvent] = []
        while let event = try reference.parse(&buffer) { expected.append(event) }
        #expect(events == expected)
        #expect(events.count == 8)
    }

    @Test("a NUL in the request target, raw or percent-encoded, is refused with 400 naming it", arguments: [
        "GET /v1/sessions/abc%00def HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /v1/errors?operator_id=DE%00*A36 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /v1/errors?%00=x HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /%00 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a\u{0}b HTTP/1.1\r\nHost: a\r\n\r\n",
    ])
    func nulInTarget(text: String) {
        guard case .failure(let error) = parseAll(text) else {
            Issue.record("accepted: \(text.debugDescription)")
            return
        }
        #expect(error.status == 400)
        #expect(error.reason.contains("NUL"), "\(error.reason)")
    }

    @Test("an escaped percent sign before 00 is not a NUL")
    func escapedPercent() throws {
        let result = parseAll("GET /x?q=%2500 HTTP/1.1\r\nHost: a\r\n\r\n")
        guard case .success(let events) = result, case .request(let request)? = events.last else {
            Issue.record("refused")
            return
        }
        #expect(request.head.target == "/x?q=%2500")
    }

    private func parseAll(_ text: String) -> Result<[HTTPParseEvent], HTTPParseError> {
        var parser = HTTPRequestParser()
        var buffer = Array(text.utf8)
        var events: [HTTPParseEvent] = []
        do {
            while let event = try parser.parse(&buffer) { events.append(event) }
        } catch {
            return .failure(error)
        }
        return .success(events)
    }
}
