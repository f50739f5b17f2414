import HTTPServer
import Testing

@Suite("HTTP response framing")
struct HTTPResponseWriterTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("a complete body is sent with its length; the writer owns framing headers")
    func lengthFraming() {
        var response = HTTPResponse.text(200, "ok")
        response.headers.append(name: "Content-Length", value: "999")
        response.headers.append(name: "Transfer-Encoding", value: "chunked")
        let head = text(HTTPResponseWriter.head(response, version: .http1_1, keepAlive: true, date: "Fri, 27 Nov 2026 13:00:00 GMT"))
        #expect(
            head
                == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Fri, 27 Nov 2026 13:00:00 GMT\r\nContent-Length: 2\r\n\r\n"
        )
    }

    @Test("header names compare without case, ASCII only; a name given twice has no single value")
    func headerNames() {
        var headers = HTTPHeaders([("X-Request-ID", "a"), ("content-TYPE", "text/plain"), ("Via", "1"), ("via", "2")])
        #expect(headers["x-request-id"] == "a" && headers["Content-Type"] == "text/plain" && headers["X-REQUEST-Id"] == "a")
        #expect(headers["Via"] == nil && headers.values("VIA") == ["1", "2"])
        #expect(headers["X-Request-I"] == nil && headers["X-Request-IDs"] == nil && headers["X_Request-ID"] == nil)
        // Only A–Z fold: `[` (0x5B) and `{` (0x7B) differ by the same bit and are not one letter.
        headers.append(name: "A[", value: "bracket")
        #expect(headers["a{"] == nil && headers["a["] == "bracket")
        var response = HTTPResponse.text(200, "ok")
        response.headers.append(name: "CONNECTION", value: "upgrade")
        #expect(!text(HTTPResponseWriter.head(response, version: .http1_1, keepAlive: true)).contains("upgrade"), "framing fields are the writer's in any case")
    }

    @Test("a stream is chunked for HTTP/1.1 and delimited by close for HTTP/1.0")
    func streamFraming() {
        let (stream, _) = AsyncStream.makeStream(of: [UInt8].self)
        let response = HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/event-stream")]), body: .stream(stream))
        let modern = text(HTTPResponseWriter.head(response, version: .http1_1, keepAlive: true))
        #expect(modern.contains("Transfer-Encoding: chunked\r\n"))
        #expect(!modern.contains("Connection:"))
        let old = text(HTTPResponseWriter.head(response, version: .http1_0, keepAlive: true))
        #expect(!old.contains("Transfer-Encoding"))
        #expect(old.contains("Connection: close\r\n"))
        #expect(text(HTTPResponseWriter.chunk(Array("hello world".utf8))) == "b\r\nhello world\r\n")
        #expect(HTTPResponseWriter.chunk([]).isEmpty, "an empty chunk would end the body")
        #expect(text(HTTPResponseWriter.lastChunk) == "0\r\n\r\n")
    }

    @Test("closing and keep-alive are said when they differ from the version's default")
    func connectionHeader() {
        let response = HTTPResponse.text(404, "no")
        #expect(text(HTTPResponseWriter.head(response, version: .http1_1, keepAlive: false)).contains("Connection: close\r\n"))
        #expect(text(HTTPResponseWriter.head(response, version: .http1_0, keepAlive: true)).contains("Connection: keep-alive\r\n"))
        #expect(text(HTTPResponseWriter.head(response, version: .http1_0, keepAlive: true)).hasPrefix("HTTP/1.1 404 Not Found\r\n"))
    }

    @Test("1xx, 204 and 304 carry no length")
    func bodiless() {
        for status in [100, 204, 304] {
            let head = text(HTTPResponseWriter.head(HTTPResponse(status: status), version: .http1_1, keepAlive: true))
            #expect(!head.contains("Content-Length"), "\(status)")
        }
        #expect(text(HTTPResponseWriter.head(HTTPResponse(status: 100), version: .http1_1, keepAlive: true)) == "HTTP/1.1 100 Continue\r\n\r\n")
    }
}
