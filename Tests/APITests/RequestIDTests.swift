@testable import API
import Foundation
import Testing

@Suite("Request ids the ledger makes")
struct RequestIDTests {
    @Test("UUID-shaped (version 8, variant 10, lower-case hex), each one new")
    func shape() throws {
        let ids = (0..<10_000).map { _ in RequestID.make() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(100) {
            #expect(id.count == 36 && id == id.lowercased(), "\(id)")
            let uuid = try #require(UUID(uuidString: id), "\(id)")
            #expect(uuid.uuid.6 >> 4 == 8, "version 8: \(id)")
            #expect(uuid.uuid.8 >> 6 == 0b10, "variant 10: \(id)")
        }
        // One process, one prefix; the counter makes the rest.
        #expect(Set(ids.map { $0.prefix(18) }).count == 1)
    }

    @Test("the digits in their places")
    func format() {
        #expect(RequestID.format(high: 0x0123_4567_89AB_8DEF, low: 0x8EDC_BA98_7654_3210) == "01234567-89ab-8def-8edc-ba9876543210")
        #expect(RequestID.format(high: 0, low: 0) == "00000000-0000-0000-0000-000000000000")
        #expect(RequestID.format(high: .max, low: .max) == "ffffffff-ffff-ffff-ffff-ffffffffffff")
    }
}
