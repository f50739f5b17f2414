import Foundation
import Postgres
import Synchronization

/// Ids the ledger makes for requests that brought none: UUID-shaped (version 8, RFC 9562's
/// form for ids made to a scheme of one's own), unique without asking the kernel each time.
///
/// Foundation's `UUID()` opens, reads and closes `/dev/urandom` for every id, and on
/// `GET /healthz` at 64 connections that was 8.6% of the server's CPU. An id here is 60 random
/// bits drawn once per process (so two instances' ids differ) and a counter that starts at a
/// random value: unique within a process for 2^62 requests, across processes but for a chance of
/// 2^-60. A correlation id, not a secret: nothing is decided by it.
enum RequestID {
    private static let process: UInt64 = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_8000  // version 8
    }()
    private static let counter: Atomic<UInt64> = {
        var generator = SystemRandomNumberGenerator()
        return Atomic(generator.next())
    }()

    /// A new id, `xxxxxxxx-xxxx-8xxx-yxxx-xxxxxxxxxxxx` in lower-case hex.
    static func make() -> String {
        let sequence = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return format(high: process, low: (sequence & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000)  // variant 10
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
