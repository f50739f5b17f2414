import FuzzSupport
import HTTPServer

// libFuzzer target for `HTTPRequestParser` (deploy/fuzz http). The input is a byte stream as a
// client would send it (pipelined requests, chunked bodies, garbage). It is parsed five ways:
// with the default limits in one piece, in pieces whose sizes come from the input's hash, and
// as the event loop does it (an `InputBuffer` and `parse(_:from:)`, pieces of other sizes); with
// small limits (so every 413/414/431 path is reachable within -max_len) in one piece and one byte
// at a time. The checks, beyond "does not crash":
// - the events, the error and the state at the end do not depend on how the bytes were split
//   (the parser is fed by a socket in pieces of any size);
// - events alternate head, request; a request's body matches its framing and the limits;
// - what the server does next with a head (RequestTarget, keep-alive, Expect) does not crash.

/// What parsing a whole input produced.
private struct Outcome: Equatable {
    var events: [HTTPParseEvent] = []
    var error: HTTPParseError?
    /// After the last byte (when no error): mid-request or not, and the bytes left unconsumed.
    var midRequest = false
    var leftover: [UInt8] = []
}

/// Feeds `input` to a fresh parser in pieces of the given sizes (the last piece takes the rest).
private func parse(_ input: [UInt8], limits: HTTPLimits, pieces: (inout InputRandom) -> Int) -> Outcome {
    var parser = HTTPRequestParser(limits: limits)
    var random = InputRandom(seed: input)
    var outcome = Outcome()
    var buffer: [UInt8] = []
    var offset = 0
    repeat {
        let size = min(pieces(&random), input.count - offset)
        buffer += input[offset..<(offset + size)]
        offset += size
        do throws(HTTPParseError) {
            while let event = try parser.parse(&buffer) {
                check(event, after: outcome.events.last, limits: limits)
                outcome.events.append(event)
                // Each event consumes at least a line, so there are never more than bytes.
                require(outcome.events.count <= input.count + 1, "events without consuming input")
            }
        } catch {
            require([400, 413, 414, 431, 501, 505].contains(error.status), "unexpected status \(error)")
            outcome.error = error
            return outcome
        }
    } while offset < input.count
    outcome.midRequest = parser.isMidRequest
    outcome.leftover = buffer
    return outcome
}

/// As the event loop feeds it: an `InputBuffer` (consumed by moving an index, compacted before an
/// append), `parse(_:from:)`, pieces of the sizes `pieces` gives.
private func parseAsServer(_ input: [UInt8], limits: HTTPLimits, pieces: (inout InputBuffer, inout InputRandom) -> Int)
    -> Outcome
{
    var parser = HTTPRequestParser(limits: limits)
    var random = InputRandom(seed: input)
    var outcome = Outcome()
    var buffer = InputBuffer(limit: HTTPServerConfiguration(limits: limits).inputLimit)
    var offset = 0
    repeat {
        // The loop reads at most `room` bytes; within -max_len the buffer never fills.
        require(buffer.room > 0, "the input buffer filled up")
        let size = min(pieces(&buffer, &random), input.count - offset)
        buffer.append(input[offset..<(offset + size)])
        offset += size
        do throws(HTTPParseError) {
            while let event = try buffer.parse(with: &parser) {
                check(event, after: outcome.events.last, limits: limits)
                outcome.events.append(event)
                require(outcome.events.count <= input.count + 1, "events without consuming input")
            }
        } catch {
            outcome.error = error
            return outcome
        }
    } while offset < input.count
    outcome.midRequest = parser.isMidRequest
    outcome.leftover = Array(buffer.storage[buffer.start...])
    return outcome
}

/// Invariants of one event, given the one before it.
private func check(_ event: HTTPParseEvent, after previous: HTTPParseEvent?, limits: HTTPLimits) {
    switch event {
    case .head(let head):
        if case .head = previous { require(false, "two heads without a request between them") }
        require(head.headers.fields.count <= limits.headerCount, "more header fields than the limit")
        require(head.target.utf8.count <= limits.requestLine, "target longer than the request line limit")
        require(!head.method.isEmpty && !head.target.isEmpty, "empty method or target")
        if case .length(let length) = head.framing {
            require(length > 0 && length <= limits.body, "Content-Length \(length) passed")
        }
        // What the server and router do next with a head.
        _ = head.keepAlive
        _ = head.expectsContinue
        _ = head.headers["host"]
        if let target = RequestTarget(head.target) { _ = target["limit"] }
    case .request(let request):
        guard case .head(let head) = previous else {
            require(false, "a request without its head first")
            return
        }
        require(request.head == head, "the request's head differs from the head event")
        require(request.body.count <= limits.body, "body of \(request.body.count) bytes passed the limit")
        switch head.framing {
        case .none: require(request.body.isEmpty, "a body without framing")
        case .length(let length):
            require(request.body.count == length, "body of \(request.body.count) bytes for Content-Length \(length)")
        case .chunked: break
        }
    }
}

/// Small limits: every limit can be reached with a few hundred bytes.
private let small = HTTPLimits(
    requestLine: 64, headerLine: 64, headerBytes: 256, headerCount: 6, body: 256, chunkExtension: 16,
    emptyLinesBeforeRequest: 2)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    let whole = parse(input, limits: HTTPLimits()) { _ in Int.max }
    let pieces = parse(input, limits: HTTPLimits()) { $0.size(upTo: 24) }
    require(pieces == whole, "split into pieces: \(pieces)\nin one piece: \(whole)")
    let server = parseAsServer(input, limits: HTTPLimits()) { buffer, random in
        min(buffer.room, random.size(upTo: 64))
    }
    require(server == whole, "through an InputBuffer: \(server)\nin one piece: \(whole)")
    let smallWhole = parse(input, limits: small) { _ in Int.max }
    let smallBytes = parse(input, limits: small) { _ in 1 }
    require(smallBytes == smallWhole, "small limits, one byte at a time: \(smallBytes)\nin one piece: \(smallWhole)")
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
