public import Foundation
import OICP

/// Who sent a notification, when it arrived, and how, recorded in each event's metadata.
public struct IngestContext: Sendable, Hashable {
    /// When the ledger received the notification. An Error carries no timestamp of its own
    /// (REFERENCE.md §1.6), so this is the only time it has.
    public var receivedAt: Date
    /// The client's identity: a token name, `cli`, or `import:<file>`.
    public var client: String
    /// The client's `Idempotency-Key`, when it sent one.
    public var idempotencyKey: String?
    /// The request id the ledger assigned (or the client's `X-Request-ID`).
    public var requestID: String?
    /// `http`, `cli` or `import`.
    public var source: String

    public init(receivedAt: Date, client: String, idempotencyKey: String? = nil, requestID: String? = nil, source: String) {
        self.receivedAt = receivedAt
        self.client = client
        self.idempotencyKey = idempotencyKey
        self.requestID = requestID
        self.source = source
    }
}

/// RFC 3339 UTC text with milliseconds, `2026-11-27T10:00:00.123Z`, without a `DateFormatter`.
public func rfc3339(_ date: Date) -> String {
    let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    var seconds = millis / 1000
    var fraction = millis % 1000
    if fraction < 0 {
        fraction += 1000
        seconds -= 1
    }
    let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
    let secondOfDay = Int(seconds - Int64(days) * 86_400)
    let (y, m, d) = Timestamp.civil(fromDays: Int64(days))
    // Digits written by hand: `String(format:)` costs microseconds, and API pages render one per row.
    var text = [UInt8](repeating: 0, count: 24)
    func put(_ value: Int, at offset: Int, width: Int) {
        var value = value
        for index in stride(from: offset + width - 1, through: offset, by: -1) {
            text[index] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
        }
    }
    put(Int(y), at: 0, width: 4)
    put(Int(m), at: 5, width: 2)
    put(Int(d), at: 8, width: 2)
    put(secondOfDay / 3600, at: 11, width: 2)
    put(secondOfDay / 60 % 60, at: 14, width: 2)
    put(secondOfDay % 60, at: 17, width: 2)
    put(Int(fraction), at: 20, width: 3)
    for (offset, character) in [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."), (23, "Z")] as [(Int, Unicode.Scalar)] {
        text[offset] = UInt8(ascii: character)
    }
    return String(decoding: text, as: UTF8.self)
}
