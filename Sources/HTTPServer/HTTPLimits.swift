/// Every limit the server enforces on a request, in one place.
///
/// | key | default | exceeded |
/// | --- | --- | --- |
/// | `requestLine` | 8 KiB | 414 URI Too Long |
/// | `headerLine` | 8 KiB, one field line | 431 Request Header Fields Too Large |
/// | `headerBytes` | 32 KiB, all field lines | 431 |
/// | `headerCount` | 100 fields | 431 |
/// | `body` | 1 MiB, after removing chunked framing | 413 Content Too Large |
/// | `chunkExtension` | 256 bytes per chunk line | 400 |
/// | `emptyLinesBeforeRequest` | 4 | 400 |
public struct HTTPLimits: Sendable, Hashable {
    public var requestLine: Int
    public var headerLine: Int
    public var headerBytes: Int
    public var headerCount: Int
    public var body: Int
    public var chunkExtension: Int
    /// RFC 9112 §2.2: a server should ignore at least one empty line before a request line.
    public var emptyLinesBeforeRequest: Int

    public init(
        requestLine: Int = 8192, headerLine: Int = 8192, headerBytes: Int = 32_768, headerCount: Int = 100,
        body: Int = 1 << 20, chunkExtension: Int = 256, emptyLinesBeforeRequest: Int = 4
    ) {
        self.requestLine = requestLine
        self.headerLine = headerLine
        self.headerBytes = headerBytes
        self.headerCount = headerCount
        self.body = body
        self.chunkExtension = chunkExtension
        self.emptyLinesBeforeRequest = emptyLinesBeforeRequest
    }
}
