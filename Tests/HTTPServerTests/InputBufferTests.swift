import HTTPServer
import Testing

@Suite("A connection's input buffer")
struct InputBufferTests {
    @Test(
        "consuming many pipelined requests moves fewer bytes than arrived, and the buffer stays within twice its limit")
    func linearConsumption() throws {
        let request = Array("GET /v1/errors HTTP/1.1\r\nHost: ledger\r\n\r\n".utf8)
        let stream = Array((0..<5_000).map { _ in request }.joined())
        var input = InputBuffer(limit: 80_000)
        var parser = HTTPRequestParser()
        var requests = 0
        var offset = 0
        while offset < stream.count {
            // Reads as the loop does them: at most `room`, 64 KiB at a time, parsing after each.
            let size = min(65_536, input.room, stream.count - offset)
            input.append(stream[offset..<(offset + size)])
            offset += size
            while let event = try input.parse(with: &parser) {
                if case .request = event { requests += 1 }
            }
            #expect(input.count <= input.limit)
            #expect(input.storage.count <= 2 * input.limit)
        }
        #expect(requests == 5_000)
        #expect(input.isEmpty)
        #expect(input.bytesMoved <= stream.count, "moved \(input.bytesMoved) bytes for \(stream.count)")
    }

    @Test("room is what the limit leaves")
    func room() {
        var input = InputBuffer(limit: 10)
        #expect(input.room == 10)
        input.append(Array("GET / HT".utf8))
        #expect(input.count == 8)
        #expect(input.room == 2)
        input.removeAll()
        #expect(input.isEmpty && input.room == 10)
    }
}
