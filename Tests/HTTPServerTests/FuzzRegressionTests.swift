import HTTPServer
import Testing

/// Inputs the libFuzzer target `FuzzHTTPRequestParser` (deploy/fuzz http) found, reduced to what
/// they show.
@Suite("HTTP request parser: fuzzer findings")
struct HTTPParserFuzzRegressionTests {
    /// Parses `bytes` with `limits`, fed in pieces of `piece` bytes; the error, if any.
    private func error(_ bytes: [UInt8], limits: HTTPLimits, piece: Int) -> HTTPParseError? {
        var parser = HTTPRequestParser(limits: limits)
        var buffer: [UInt8] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + piece, bytes.count)
            buffer += bytes[offset..<end]
            offset = end
            do {
                while try parser.parse(&buffer) != nil {}
            } catch {
                return error
            }
        }
        return nil
    }

    static let limits = HTTPLimits(requestLine: 64, headerLine: 64, chunkExtension: 16)

    /// A line one byte over its limit whose last byte is a CR followed by something other than
    /// LF. The parser refused it as "a bare CR" (400) when the byte after the CR had arrived, and
    /// as too long (414/431) when it had not, so the status depended on how TCP split the bytes.
    @Test(
        "a line over its limit ending in a CR gets the same status however the bytes arrive",
        arguments: [
            // The request line: 65 bytes, then CR at the 66th, then "x" → 414.
            ("GET /" + String(repeating: "a", count: 60) + "\rx HTTP/1.1\r\nHost: a\r\n\r\n", 414),
            // A header field line → 431.
            ("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "b", count: 62) + "\rx\r\n\r\n", 431),
            // A trailer field line → 431.
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: "
                    + String(repeating: "c", count: 62) + "\rx\r\n\r\n", 431
            ),
        ])
    func crAtTheLimit(text: String, status: Int) {
        let bytes = Array(text.utf8)
        let whole = error(bytes, limits: Self.limits, piece: bytes.count)
        #expect(whole?.status == status, "in one piece: \(String(describing: whole))")
        for piece in 1...8 {
            let split = error(bytes, limits: Self.limits, piece: piece)
            #expect(split == whole, "in pieces of \(piece) bytes: \(String(describing: split))")
        }
    }

    /// The fuzzer's own input: form feeds, a CR as the request line's 66th byte, more form feeds.
    @Test("the fuzzer's input: 414 in one piece and one byte at a time")
    func fuzzerInput() {
        let bytes = [UInt8](repeating: 0x0C, count: 65) + [0x0D] + [UInt8](repeating: 0x0C, count: 16) + [0x0A, 0x0A]
        let limits = HTTPLimits(
            requestLine: 64, headerLine: 64, headerBytes: 256, headerCount: 6, body: 256, chunkExtension: 16,
            emptyLinesBeforeRequest: 2)
        #expect(error(bytes, limits: limits, piece: bytes.count)?.status == 414)
        #expect(error(bytes, limits: limits, piece: 1)?.status == 414)
    }
}
