import Foundation

/// A strict RFC 8259 parser working directly on bytes.
///
/// - Input must be UTF-8 (RFC 8259 §8.1; OICP 2.3 CPO chapter 1: "All service messages … MUST
///   use UTF-8"); a byte order mark is refused, as are lone surrogate escapes (`"\uD800"`),
///   which cannot be represented as Unicode text.
/// - Numbers keep their literal text; objects keep member order; a repeated member name is an
///   error (RFC 8259 §4 leaves it unpredictable which value a receiver uses).
/// - The parser is iterative with an explicit stack, so `maxDepth` bounds memory but never the
///   call stack, and every byte is looked at a bounded number of times (linear time). Keep
///   `maxDepth` modest all the same: the resulting value is compared, hashed, serialized and
///   freed recursively.
///
/// ```swift
/// let body = try JSONParser.parse(Array(#"{"Type":"Start"}"#.utf8), maxDepth: 16, maxBytes: 65_536)
/// ```
public struct JSONParser {
    private init() {}

    /// Parses one JSON document.
    /// - Parameters:
    ///   - bytes: The document, UTF-8.
    ///   - maxDepth: The largest number of nested arrays/objects (the root container is depth 1).
    ///   - maxBytes: The largest accepted input size; larger input is refused before parsing.
    /// - Returns: The parsed value.
    /// - Throws: `JSONParseError` with the byte offset of the first problem.
    public static func parse(
        _ bytes: some Collection<UInt8>, maxDepth: Int, maxBytes: Int
    ) throws(JSONParseError) -> JSONValue {
        let count = bytes.count
        if count > maxBytes {
            throw JSONParseError(
                kind: .tooLarge, offset: maxBytes,
                message: "document is \(count) bytes; the limit is \(maxBytes) bytes")
        }
        let result =
            bytes.withContiguousStorageIfAvailable { buffer in
                var scanner = JSONScanner(bytes: buffer, maxDepth: maxDepth)
                return scanner.parseDocument()
            }
            ?? Array(bytes).withUnsafeBufferPointer { buffer in
                var scanner = JSONScanner(bytes: buffer, maxDepth: maxDepth)
                return scanner.parseDocument()
            }
        return try result.get()
    }
}
