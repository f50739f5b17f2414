@testable import API
import Foundation
import Testing

@Suite("Request ids the ledger makes")
struct RequestIDTests {
    @Test("UUID-shaped (version 8, variant 10, lower-case hex), each one new, not counted")
    func shape() throws {
        let ids = (0..<10_000).map { _ in RequestID.make() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(100) {
            #expect(id.count == 36 && id == id.lowercased(), "\(id)")
            let uuid = try #require(UUID(uuidString: id), "\(id)")
            #expect(uuid.uuid.6 >> 4 == 8, "version 8: \(id)")
            #expect(uuid.uuid.8 >> 6 == 0b10, "variant 10: \(id)")
        }
        // Nothing to subtract: the counter behind them is permuted, so consecutive ids' last
        // twelve digits are not consecutive numbers.
        let tails = ids.map { UInt64($0.suffix(12), radix: 16)! }
        #expect(zip(tails, tails.dropFirst()).filter { $1 &- $0 == 1 }.count < 10)
        #expect(Set(ids.map { $0.suffix(12) }).count > 9_900)
    }

    @Test("the permutation is one: distinct values stay distinct, and it depends on the key")
    func permutation() {
        let key = (UInt64(0x0123_4567_89AB_CDEF), UInt64(0xFEDC_BA98_7654_3210))
        let values: [UInt64] = Array(0..<20_000) + [RequestID.mask62, RequestID.mask62 - 1, 1 << 61, 1 << 31, (1 << 31) - 1]
        let permuted = values.map { RequestID.permute($0, key: key) }
        #expect(Set(permuted).count == values.count)
        #expect(permuted.allSatisfy { $0 <= RequestID.mask62 })
        #expect(values.map { RequestID.permute($0, key: (key.1, key.0)) } != permuted)
    }

    @Test("the digits in their places")
    func format() {
        #expect(RequestID.format(high: 0x0123_4567_89AB_8DEF, low: 0x8EDC_BA98_7654_3210) == "01234567-89ab-8def-8edc-ba9876543210")
        #expect(RequestID.format(high: 0, low: 0) == "00000000-0000-0000-0000-000000000000")
        #expect(RequestID.format(high: .max, low: .max) == "ffffffff-ffff-ffff-ffff-ffffffffffff")
    }
}
