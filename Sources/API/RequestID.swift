import Foundation
import Postgres
import Synchronization

/// Ids the ledger makes for requests that brought none: UUID-shaped (version 8, RFC 9562's form
/// for ids made to a scheme of one's own), lower-case, unique, and telling nothing.
///
/// Foundation's `UUID()` opens, reads and closes `/dev/urandom` for every id: on `GET /healthz`
/// at 64 connections that was 8.6% of the server's CPU, and one `getrandom` call per id still
/// 4.5%. An id here is 60 random bits drawn once per process and a counter passed through a
/// keyed permutation (a Feistel network over 62 bits, SipHash with a key drawn once as its
/// round function): distinct for 2^62 requests, like a counter, but not one to subtract, since
/// every answer carries an id and a plain counter would tell any client how many requests the
/// server handled between two of its own.
enum RequestID {
    private static let process: UInt64 = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_8000  // version 8
    }()
    private static let key: (UInt64, UInt64) = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next())
    }()
    private static let counter = Atomic<UInt64>(0)

    /// A new id, `xxxxxxxx-xxxx-8xxx-yxxx-xxxxxxxxxxxx` in lower-case hex.
    static func make() -> String {
        let sequence = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return format(high: process, low: permute(sequence & mask62, key: key) | 0x8000_0000_0000_0000)  // variant 10
    }

    static let mask62: UInt64 = 0x3FFF_FFFF_FFFF_FFFF

    /// A bijection of the 62-bit values under `key`: four Feistel rounds over two 31-bit halves.
    static func permute(_ value: UInt64, key: (UInt64, UInt64)) -> UInt64 {
        let half: UInt64 = 0x7FFF_FFFF
        var left = value >> 31 & half, right = value & half
        for round in 0..<4 {
            var hasher = Hasher()
            hasher.combine(key.0)
            hasher.combine(key.1)
            hasher.combine(round)
            hasher.combine(right)
            (left, right) = (right, left ^ (UInt64(truncatingIfNeeded: hasher.finalize()) & half))
        }
        return left << 31 | right
    }

    static func format(high: UInt64, low: UInt64) -> String {
        var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) { bytes in
            bytes.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            bytes.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return UUID(uuid: raw).lowercasedString
    }
}
