/// A response to write: status, headers and a body that is either complete or streamed.
public struct HTTPResponse: Sendable {
    public enum Body: Sendable {
        /// The whole body; sent with `Content-Length`.
        case bytes([UInt8])
        /// Pieces produced over time (exports, Server-Sent Events); sent with
        /// `Transfer-Encoding: chunked`, or, to an HTTP/1.0 client, until the connection closes.
        case stream(AsyncStream<[UInt8]>)
        /// A stream that can fail midway (an export whose database read failed): the server then
        /// closes the connection without the last chunk, so the client sees a truncated body,
        /// never a complete-looking one.
        case failableStream(AsyncThrowingStream<[UInt8], any Error>)

        var isStream: Bool {
            switch self {
            case .bytes: false
            case .stream, .failableStream: true
            }
        }

        /// A finished stream of the same kind (so the head is written the same), in place of one
        /// that will not be read.
        var emptyStream: Body {
            switch self {
            case .bytes: .bytes([])
            case .stream: .stream(AsyncStream { $0.finish() })
            case .failableStream: .failableStream(AsyncThrowingStream { $0.finish() })
            }
        }
    }

    public var status: Int
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with a text body and its content type.
    public static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", contentType)]), body: .bytes(Array(text.utf8)))
    }
}

/// Writes response heads and chunk framing as bytes (RFC 9112 §4, §7.1). Pure.
public enum HTTPResponseWriter {
    /// The status line and header section of `response` for a request of `version`.
    ///
    /// Adds `Content-Length` or `Transfer-Encoding: chunked` from the body (any such header
    /// the response carries is dropped: the writer owns framing), and `Connection: close`
    /// when the connection will close after this response. A 1xx, 204 or 304 response, or the
    /// answer to a HEAD request, has no body and no length (RFC 9110 §6.4.1, RFC 9112 §6.3).
    public static func head(
        _ response: HTTPResponse, version: HTTPVersion, keepAlive: Bool, headRequest: Bool = false, date: String? = nil
    ) -> [UInt8] {
        // Bytes appended in place: no String built and copied for every answer.
        var head: [UInt8] = []
        head.reserveCapacity(256)
        func line(_ parts: String...) {
            for part in parts { head.append(contentsOf: part.utf8) }
            head.append(contentsOf: [13, 10])
        }
        line("HTTP/1.1 ", String(response.status), " ", reasonPhrase(response.status))
        for field in response.headers where !framingFields.contains(where: { HTTPHeaders.sameName($0, field.name) }) {
            // Values are the server's own; a CR or LF in one would split the response.
            precondition(!field.value.utf8.contains(where: { $0 == 13 || $0 == 10 }), "CR or LF in a response header value")
            line(field.name, ": ", field.value)
        }
        if let date { line("Date: ", date) }
        if hasBody(status: response.status) {
            switch response.body {
            case .bytes(let bytes):
                line("Content-Length: ", String(bytes.count))
            case .stream, .failableStream:
                if version == .http1_1, !headRequest { line("Transfer-Encoding: chunked") }
            }
        }
        if !keepAlive || (version == .http1_0 && response.body.isStream) {
            line("Connection: close")
        } else if version == .http1_0 {
            line("Connection: keep-alive")
        }
        head.append(contentsOf: [13, 10])
        return head
    }

    /// Whether a response with `status` may have a body: not a 1xx, 204 or 304 (RFC 9110 §6.4.1).
    public static func hasBody(status: Int) -> Bool {
        status >= 200 && status != 204 && status != 304
    }

    /// One chunk of a chunked body; an empty piece is skipped (it would end the body).
    public static func chunk(_ piece: [UInt8]) -> [UInt8] {
        guard !piece.isEmpty else { return [] }
        return Array((String(piece.count, radix: 16) + "\r\n").utf8) + piece + [0x0D, 0x0A]
    }

    /// The last chunk and the end of a chunked body.
    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    static let framingFields = ["content-length", "transfer-encoding", "connection"]

    /// RFC 9110 §15 reason phrases for the codes the server sends.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}
