/// A connection's bytes received and not yet parsed: bounded, and consumed by moving an index.
///
/// - Consuming costs nothing: the parser moves `start` (`HTTPRequestParser.parse(_:from:)`),
///   so N pipelined requests in one buffer are not N shifts of everything after them.
/// - Compaction (moving the unconsumed bytes to the front) happens before bytes are appended,
///   and only when at least half of the storage is consumed: each compaction moves no more bytes
///   than were consumed since the previous one, so moving costs O(bytes received) in all.
/// - `limit` bounds what is held. The event loop reads at most `room` bytes at a time and parses
///   after each read; the parser refuses a line or a body over its own limits long before this one
///   (see `HTTPServerConfiguration.inputLimit`), so a client cannot make the server buffer more,
///   whatever it sends.
package struct InputBuffer: Sendable {
    package private(set) var storage: [UInt8] = []
    /// Where the unconsumed bytes begin.
    package private(set) var start = 0
    /// At most this many unconsumed bytes are held.
    package let limit: Int
    /// Bytes moved by compaction so far (a test checks this stays linear in what arrived).
    package private(set) var bytesMoved = 0

    package init(limit: Int) {
        self.limit = limit
    }

    /// Unconsumed bytes.
    package var count: Int { storage.count - start }
    package var isEmpty: Bool { start == storage.count }
    /// How many more bytes may be appended.
    package var room: Int { max(0, limit - count) }

    /// Appends what was received (at most `room` bytes: the caller reads no more than that).
    package mutating func append(_ bytes: some Collection<UInt8>) {
        compact()
        storage.append(contentsOf: bytes)
    }

    /// Parses the next event, consuming its bytes.
    package mutating func parse(with parser: inout HTTPRequestParser) throws(HTTPParseError) -> HTTPParseEvent? {
        try parser.parse(storage, from: &start)
    }

    /// Drops everything (a refused request: nothing after it is read).
    package mutating func removeAll() {
        storage.removeAll(keepingCapacity: false)
        start = 0
    }

    private mutating func compact() {
        if start == storage.count {
            // An idle connection keeps one read's worth, not the most it ever held.
            storage.removeAll(keepingCapacity: storage.capacity <= HTTPServerConfiguration.readSize)
            start = 0
        } else if start > 0, start >= storage.count - start {
            bytesMoved += storage.count - start
            storage.removeFirst(start)
            start = 0
        }
    }
}
