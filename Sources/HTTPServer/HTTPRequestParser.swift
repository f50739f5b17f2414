/// Why a request was refused; the connection answers `status` and closes.
public struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 400, 413, 414, 431, 501 or 505.
    public var status: Int
    public var reason: String

    public init(_ status: Int, _ reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status): \(reason)" }
}

/// What the parser found next.
public enum HTTPParseEvent: Sendable, Hashable {
    /// The request line and headers are complete (the body, if any, is not yet): the moment to
    /// answer `Expect: 100-continue`.
    case head(HTTPRequestHead)
    /// The whole request, body included. The parser is ready for the next (pipelined) request.
    case request(HTTPRequest)
}

/// An HTTP/1.1 request parser: bytes in, a request head or a whole request out, or nil for
/// "need more bytes". A pure value (no I/O), fed by the connection as bytes arrive, in pieces of
/// any size.
///
/// Strict, as RFC 9112 lets a server be, because leniency is where request smuggling lives:
/// - lines end in CRLF; a bare CR or a bare LF is refused (§2.2);
/// - one SP between the request line's three parts; versions 1.0 and 1.1 (others: 505);
/// - a NUL in the request target, raw or as `%00`, is refused: C strings downstream (libpq)
///   would end at it, so the value checked would not be the value used;
/// - field names are tokens with no whitespace before the colon (§5.1), field values hold no
///   control characters, and obs-fold (a line starting with whitespace) is refused (§5.2);
/// - HTTP/1.1 needs exactly one `Host` (§3.2);
/// - `Transfer-Encoding` with `Content-Length` is refused (§6.1), as is `Transfer-Encoding` in
///   HTTP/1.0 (§6.1); `chunked` must be the one and final coding (others: 501);
/// - `Content-Length` must be digits; several must agree (RFC 9110 §8.6);
/// - every size is bounded (`HTTPLimits`);
/// - what grows while a request arrives (header fields, a chunked body) is appended to in place,
///   and consuming never shifts the caller's buffer (`parse(_:from:)`): a request costs time
///   linear in its bytes, however it is cut into chunks or pieces.
///
/// ```swift
/// var parser = HTTPRequestParser()
/// var buffer = Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
/// while let event = try parser.parse(&buffer) { … }
/// ```
public struct HTTPRequestParser: Sendable {
    /// Where in a request the parser is. The cases carry only what never changes once set (the
    /// head); what grows as bytes arrive (the header fields, the body) lives in stored properties
    /// of its own and is appended to in place. Kept in the enum, a body would be referenced twice
    /// while it grows (by the state and by the local being appended to), so every append would
    /// copy all of it: one-byte chunks made a chunked body cost O(n²) before any handler (or
    /// authentication) saw the request.
    private enum State: Sendable {
        case requestLine(emptyLines: Int)
        case headers
        /// The head was returned; the body comes next.
        case body(HTTPRequestHead)
        case chunkSize(HTTPRequestHead)
        case chunkData(HTTPRequestHead, remaining: Int)
        case chunkDataEnd(HTTPRequestHead)
        case trailers(HTTPRequestHead, count: Int)
    }

    private struct Partial: Sendable {
        var method = ""
        var target = ""
        var version = HTTPVersion.http1_1
        var headers = HTTPHeaders()
        var bytes = 0
    }

    public let limits: HTTPLimits
    private var state: State = .requestLine(emptyLines: 0)
    /// The request line and header fields so far (state `.headers`).
    private var partial = Partial()
    /// A chunked body so far, without its framing (states `.chunk*` and `.trailers`).
    private var body: [UInt8] = []
    /// Bytes of the line being received known to hold no line end (see `line(in:from:scanned:…)`).
    private var lineScanned = 0

    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
    }

    /// Whether part of a request has been consumed and the rest is still to come.
    public var isMidRequest: Bool {
        if case .requestLine = state { false } else { true }
    }

    /// Tests only: the address of the chunked body's storage so far. Appending in place moves it
    /// only when the body outgrows its capacity (O(log n) times); a copy per append would move it
    /// on every chunk.
    package var bodyStorageAddress: Int {
        body.withUnsafeBytes { Int(bitPattern: $0.baseAddress) }
    }

    /// The refusal for a client that sent more unparsed bytes than a connection holds
    /// (`HTTPServerConfiguration.inputLimit`) while the parser waits in its present state: 414
    /// before the request line ends, 431 in the header or trailer section, 413 in the body.
    /// (Within the parser's own limits this cannot happen; it is the loop's backstop.)
    package var overflow: HTTPParseError {
        switch state {
        case .requestLine: HTTPParseError(414, "request line longer than the server holds")
        case .headers, .trailers: HTTPParseError(431, "header fields longer than the server holds")
        case .body, .chunkSize, .chunkData, .chunkDataEnd: HTTPParseError(413, "body larger than the server holds")
        }
    }

    /// Parses from the front of `buffer`, removing what it consumed.
    ///
    /// Removing shifts what is left, so a connection that holds many pipelined requests in one
    /// buffer calls `parse(_:from:)` instead and compacts once.
    /// - Returns: the next event, or nil when `buffer` holds no complete one yet.
    /// - Throws: `HTTPParseError`; the request (and the connection) cannot continue.
    public mutating func parse(_ buffer: inout [UInt8]) throws(HTTPParseError) -> HTTPParseEvent? {
        var consumed = 0
        defer { if consumed > 0 { buffer.removeFirst(consumed) } }
        return try parse(buffer, from: &consumed)
    }

    /// Parses `buffer` from index `start`, and moves `start` past what it consumed. The buffer
    /// is not changed, so consuming costs nothing however much follows (the reader index of
    /// swift-nio's `ByteBuffer`).
    /// - Returns: the next event, or nil when `buffer[start...]` holds no complete one yet.
    /// - Throws: `HTTPParseError`; the request (and the connection) cannot continue.
    public mutating func parse(_ buffer: [UInt8], from start: inout Int) throws(HTTPParseError) -> HTTPParseEvent? {
        var cursor = start
        defer { start = cursor }
        while true {
            switch state {
            case .requestLine(let emptyLines):
                guard let line = try Self.line(in: buffer, from: cursor, scanned: &lineScanned, limit: limits.requestLine, tooLong: HTTPParseError(414, "request line longer than \(limits.requestLine) bytes")) else { return nil }
                cursor = line.next
                if line.range.isEmpty {
                    guard emptyLines < limits.emptyLinesBeforeRequest else { throw HTTPParseError(400, "too many empty lines before the request line") }
                    state = .requestLine(emptyLines: emptyLines + 1)
                    continue
                }
                partial = try Self.requestLine(buffer[line.range])
                state = .headers
            case .headers:
                guard let line = try Self.line(in: buffer, from: cursor, scanned: &lineScanned, limit: limits.headerLine, tooLong: HTTPParseError(431, "a header field line is longer than \(limits.headerLine) bytes")) else { return nil }
                cursor = line.next
                if line.range.isEmpty {
                    let head = try finish(partial)
                    partial = Partial()
                    state = .body(head)
                    return .head(head)
                }
                partial.bytes += line.range.count
                guard partial.bytes <= limits.headerBytes else { throw HTTPParseError(431, "header fields longer than \(limits.headerBytes) bytes in all") }
                guard partial.headers.fields.count < limits.headerCount else { throw HTTPParseError(431, "more than \(limits.headerCount) header fields") }
                let field = try Self.field(buffer[line.range])
                partial.headers.append(name: field.name, value: field.value)
            case .body(let head):
                switch head.framing {
                case .none:
                    state = .requestLine(emptyLines: 0)
                    return .request(HTTPRequest(head: head, body: []))
                case .length(let length):
                    guard buffer.count - cursor >= length else { return nil }
                    let body = Array(buffer[cursor..<(cursor + length)])
                    cursor += length
                    state = .requestLine(emptyLines: 0)
                    return .request(HTTPRequest(head: head, body: body))
                case .chunked:
                    body = []
                    state = .chunkSize(head)
                }
            case .chunkSize(let head):
                let limit = limits.chunkExtension + 18
                guard let line = try Self.line(in: buffer, from: cursor, scanned: &lineScanned, limit: limit, tooLong: HTTPParseError(400, "a chunk-size line longer than \(limit) bytes")) else { return nil }
                cursor = line.next
                let size = try Self.chunkSize(buffer[line.range])
                if size == 0 {
                    state = .trailers(head, count: 0)
                    continue
                }
                guard size <= limits.body - body.count else { throw HTTPParseError(413, "body larger than \(limits.body) bytes") }
                state = .chunkData(head, remaining: size)
            case .chunkData(let head, let remaining):
                let available = min(remaining, buffer.count - cursor)
                guard available > 0 else { return nil }
                body.append(contentsOf: buffer[cursor..<(cursor + available)])  // in place: `body` has one owner
                cursor += available
                state = available == remaining ? .chunkDataEnd(head) : .chunkData(head, remaining: remaining - available)
            case .chunkDataEnd(let head):
                guard buffer.count - cursor >= 2 else { return nil }
                guard buffer[cursor] == 0x0D, buffer[cursor + 1] == 0x0A else { throw HTTPParseError(400, "chunk data not followed by CRLF") }
                cursor += 2
                state = .chunkSize(head)
            case .trailers(let head, let count):
                guard let line = try Self.line(in: buffer, from: cursor, scanned: &lineScanned, limit: limits.headerLine, tooLong: HTTPParseError(431, "a trailer field line is longer than \(limits.headerLine) bytes")) else { return nil }
                cursor = line.next
                if line.range.isEmpty {
                    state = .requestLine(emptyLines: 0)
                    return .request(HTTPRequest(head: head, body: takeBody()))
                }
                guard count < limits.headerCount else { throw HTTPParseError(431, "more than \(limits.headerCount) trailer fields") }
                _ = try Self.field(buffer[line.range])  // checked, then dropped: trailers carry nothing the server uses
                state = .trailers(head, count: count + 1)
            }
        }
    }

    /// The chunked body, handed over without a copy; the parser keeps an empty one.
    private mutating func takeBody() -> [UInt8] {
        var taken: [UInt8] = []
        swap(&taken, &body)
        return taken
    }

    // MARK: - Lines

    /// The next line from `start`: its content (without CRLF) and where the following one starts.
    /// (`tooLong` is built only when thrown: formatting its message for every chunk line would
    /// cost more than parsing the line.)
    ///
    /// `scanned` (the parser's `lineScanned`) carries over calls: the bytes of an unfinished line
    /// already looked at are not looked at again when more arrive, so a line sent a byte at a
    /// time costs its length, not its length squared.
    private static func line(
        in buffer: [UInt8], from start: Int, scanned: inout Int, limit: Int, tooLong: @autoclosure () -> HTTPParseError
    ) throws(HTTPParseError)
        -> (range: Range<Int>, next: Int)?
    {
        var index = start + scanned
        let end = min(buffer.count, start + limit + 2)
        while index < end {
            switch buffer[index] {
            case 0x0A:
                guard index > start, buffer[index - 1] == 0x0D else { throw HTTPParseError(400, "a line ends in a bare LF (RFC 9112 §2.2)") }
                scanned = 0
                return (start..<(index - 1), index + 1)
            case 0x0D:
                // Look only within the window (`end`, not `buffer.count`): a CR in its last byte is
                // past the limit whatever follows, and whether the next byte has arrived yet must
                // not turn that 414/431 into a 400.
                if index + 1 < end, buffer[index + 1] != 0x0A { throw HTTPParseError(400, "a bare CR (RFC 9112 §2.2)") }
            default:
                break
            }
            index += 1
        }
        if buffer.count - start > limit + 1 { throw tooLong() }
        // Next time from here; a CR in the last byte is looked at again, with the byte after it.
        scanned = index - start - (index > start && buffer[index - 1] == 0x0D ? 1 : 0)
        return nil
    }

    // MARK: - Request line (RFC 9112 §3)

    private static func requestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Partial {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw HTTPParseError(400, "the request line is not 'method SP target SP version'") }
        let (method, target, version) = (parts[0], parts[1], parts[2])
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else { throw HTTPParseError(400, "the method is not a token") }
        // A NUL, raw or percent-encoded, would reach C strings (libpq) and cut them short there,
        // so a value checked here would not be the value used: refused whatever the route.
        guard !target.contains(0) else { throw HTTPParseError(400, "a NUL byte in the request target") }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPParseError(400, "the request target is empty or holds whitespace or control characters")
        }
        guard !containsEncodedNUL(target) else { throw HTTPParseError(400, "a NUL byte (%00) in the request target") }
        let versionText = String(decoding: version, as: UTF8.self)
        guard let parsed = HTTPVersion(rawValue: versionText) else {
            let wellFormed = version.count == 8 && versionText.hasPrefix("HTTP/") && version[version.startIndex + 6] == UInt8(ascii: ".")
                && isDigit(version[version.startIndex + 5]) && isDigit(version[version.startIndex + 7])
            throw wellFormed ? HTTPParseError(505, "\(versionText) is not supported; use HTTP/1.1") : HTTPParseError(400, "malformed HTTP version")
        }
        return Partial(method: String(decoding: method, as: UTF8.self), target: String(decoding: target, as: UTF8.self), version: parsed)
    }

    // MARK: - Fields (RFC 9112 §5)

    private static func field(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (name: String, value: String) {
        guard let first = line.first, first != 0x20, first != 0x09 else {
            throw HTTPParseError(400, "obsolete line folding (RFC 9112 §5.2)")
        }
        guard let colon = line.firstIndex(of: 0x3A) else { throw HTTPParseError(400, "a header field line without a colon") }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw HTTPParseError(400, "a field name that is not a token, or whitespace before the colon (RFC 9112 §5.1)")
        }
        var value = line[(colon + 1)...]
        while let byte = value.first, byte == 0x20 || byte == 0x09 { value = value.dropFirst() }
        while let byte = value.last, byte == 0x20 || byte == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPParseError(400, "a control character in the value of \(String(decoding: name, as: UTF8.self))")
        }
        let fieldName = String(decoding: name, as: UTF8.self)
        // ASCII (nearly every value) is the same in UTF-8. obs-text (0x80–0xFF) is kept byte for
        // byte, as ISO-8859-1 (RFC 9110 §5.5).
        guard value.contains(where: { $0 >= 0x80 }) else { return (fieldName, String(decoding: value, as: UTF8.self)) }
        return (fieldName, String(String.UnicodeScalarView(value.map { Unicode.Scalar($0) })))
    }

    /// Checks the head as a whole and decides the body's framing (RFC 9112 §6).
    private func finish(_ partial: Partial) throws(HTTPParseError) -> HTTPRequestHead {
        let headers = partial.headers
        if partial.version == .http1_1, headers.values("Host").count != 1 {
            throw HTTPParseError(400, "an HTTP/1.1 request needs exactly one Host header (RFC 9112 §3.2)")
        }
        let transferEncodings = headers.values("Transfer-Encoding")
        let contentLengths = headers.values("Content-Length")
        if !transferEncodings.isEmpty {
            guard contentLengths.isEmpty else {
                throw HTTPParseError(400, "both Transfer-Encoding and Content-Length (RFC 9112 §6.1)")
            }
            guard partial.version == .http1_1 else { throw HTTPParseError(400, "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)") }
            let codings = transferEncodings.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            }
            guard codings.last == "chunked" else { throw HTTPParseError(400, "chunked is not the final transfer coding (RFC 9112 §6.1)") }
            guard codings.count == 1 else { throw HTTPParseError(501, "transfer codings other than chunked are not supported") }
            return HTTPRequestHead(method: partial.method, target: partial.target, version: partial.version, headers: headers, framing: .chunked)
        }
        var framing = HTTPBodyFraming.none
        if !contentLengths.isEmpty {
            let values = contentLengths.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard let first = values.first, values.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(Self.isDigit) && $0.count <= 18 }) else {
                throw HTTPParseError(400, "Content-Length is not a number")
            }
            guard values.allSatisfy({ Int($0) == Int(first) }) else { throw HTTPParseError(400, "conflicting Content-Length values") }
            let length = Int(first) ?? 0
            guard length <= limits.body else { throw HTTPParseError(413, "body of \(length) bytes; the limit is \(limits.body)") }
            if length > 0 { framing = .length(length) }
        }
        return HTTPRequestHead(method: partial.method, target: partial.target, version: partial.version, headers: headers, framing: framing)
    }

    // MARK: - Chunks (RFC 9112 §7.1)

    private static func chunkSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        let semicolon = line.firstIndex(of: 0x3B) ?? line.endIndex
        var digits = line[line.startIndex..<semicolon]
        while let byte = digits.last, byte == 0x20 || byte == 0x09 { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.count <= 15 else { throw HTTPParseError(400, "a malformed chunk size") }
        var size = 0
        for byte in digits {
            guard let digit = hexDigit(byte).map(Int.init) else { throw HTTPParseError(400, "a malformed chunk size") }
            size = size << 4 | digit
        }
        let extensions = line[semicolon...]
        guard extensions.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPParseError(400, "a control character in a chunk extension")
        }
        return size
    }

    // MARK: - Bytes

    /// tchar (RFC 9110 §5.6.2).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// Whether `bytes` hold `%00`. (A `%` cannot be part of an escape before it: hex digits are
    /// never `%`, so a plain search finds exactly the escapes that decode to NUL.)
    static func containsEncodedNUL(_ bytes: ArraySlice<UInt8>) -> Bool {
        var index = bytes.startIndex
        while let percent = bytes[index...].firstIndex(of: UInt8(ascii: "%")) {
            let rest = bytes[(percent + 1)...]
            if rest.starts(with: [0x30, 0x30]) { return true }
            index = percent + 1
        }
        return false
    }

}

import Foundation

/// The value of a hexadecimal digit (either case), or nil: chunk sizes and percent-escapes.
func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: byte - 0x30
    case 0x41...0x46: byte - 0x41 + 10
    case 0x61...0x66: byte - 0x61 + 10
    default: nil
    }
}
