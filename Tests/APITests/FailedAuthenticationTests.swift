@testable import API
import Foundation
import Testing

/// `FailedAuthentication` as a pure value: instants are passed in, nothing sleeps.
@Suite("Failed authentication limits")
struct FailedAuthenticationTests {
    let start = ContinuousClock.now

    @Test("an address over its refusals per window waits until the window ends; other addresses do not")
    func perAddress() {
        var limits = FailedAuthentication.Limits()
        limits.failuresPerWindow = 3
        limits.window = .seconds(60)
        var rules = FailedAuthentication(limits: limits)
        for second in 0..<3 {
            #expect(rules.wait(for: "10.0.0.1", now: start + .seconds(second)) == nil)
            rules.recordFailure(address: "10.0.0.1", now: start + .seconds(second))
        }
        #expect(rules.wait(for: "10.0.0.1", now: start + .seconds(10)) == .seconds(50))
        #expect(rules.wait(for: "10.0.0.2", now: start + .seconds(10)) == nil, "another address is not held")
        #expect(rules.wait(for: nil, now: start + .seconds(10)) == nil)
        #expect(rules.wait(for: "10.0.0.1", now: start + .seconds(60)) == nil, "the window ended")
        rules.recordFailure(address: "10.0.0.1", now: start + .seconds(61))
        #expect(rules.wait(for: "10.0.0.1", now: start + .seconds(61)) == nil, "a new window counts from one")
    }

    @Test("an unknown token id is refused from memory for its time to live, then looked up again")
    func unknownIDs() {
        var rules = FailedAuthentication()
        rules.recordFailure(address: nil, unknownTokenID: "abc", now: start)
        #expect(rules.isKnownUnknown("abc", now: start + .seconds(9)))
        #expect(!rules.isKnownUnknown("abc", now: start + .seconds(10)))
        #expect(!rules.isKnownUnknown("other", now: start))
    }

    @Test("the tables are bounded: when full they start over")
    func bounded() {
        var limits = FailedAuthentication.Limits()
        limits.maxTracked = 10
        limits.failuresPerWindow = 1
        var rules = FailedAuthentication(limits: limits)
        for n in 0..<25 { rules.recordFailure(address: "10.0.0.\(n)", unknownTokenID: "id\(n)", now: start) }
        let held = (0..<25).filter { rules.wait(for: "10.0.0.\($0)", now: start) != nil }.count
        #expect(held <= 10)
        #expect((0..<25).filter { rules.isKnownUnknown("id\($0)", now: start) }.count <= 10)
    }
}
