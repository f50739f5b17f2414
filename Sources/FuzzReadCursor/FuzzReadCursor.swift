import EventStore
import FuzzSupport
import HTTPServer

// libFuzzer target for `ReadCursor(String)`, the parser of the live feed's `Last-Event-ID`
// (deploy/fuzz cursor). The input is the header value's bytes. It is parsed as the endpoint gets
// it, from a request through `HTTPRequestParser` (field values are kept byte for byte, obs-text
// as ISO-8859-1), and also decoded as UTF-8 (the `last_event_id` query parameter). The checks,
// beyond "does not crash": an accepted cursor has a non-negative position, its text form parses
// back to the same cursor, and that text is canonical (`<digits>-<digits>`).

private func check(_ text: String) {
    guard let cursor = ReadCursor(text) else { return }
    require(cursor.position >= 0, "a negative position from \(text)")
    let canonical = cursor.description
    require(ReadCursor(canonical) == cursor, "\(text) → \(canonical) does not parse back")
    require(
        canonical.utf8.allSatisfy { $0 == UInt8(ascii: "-") || ($0 >= 0x30 && $0 <= 0x39) }, "text form \(canonical)")
    require(cursor >= .start && !(cursor < cursor), "ordering of \(canonical)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    check(String(decoding: input, as: UTF8.self))
    var request =
        Array("GET /v1/errors/stream HTTP/1.1\r\nHost: ledger\r\nLast-Event-ID: ".utf8) + input + Array("\r\n\r\n".utf8)
    var parser = HTTPRequestParser()
    if case .head(let head)? = try? parser.parse(&request), let value = head.headers["last-event-id"] {
        check(value)
    }
    return 0
}

#if !FUZZING
    @main
    enum Replay {
        static func main() {
            replayCommandLine { input in _ = input.withUnsafeBufferPointer { fuzz($0.baseAddress, $0.count) } }
        }
    }
#endif
