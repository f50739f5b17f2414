import OICP
import Testing

@Suite("OperatorIdentity: comparable forms")
struct OperatorIdentityTests {
    @Test(
        "normalized drops * and + and upper-cases",
        arguments: [
            ("DE*A36", "DEA36"), ("de*a36*e4215*1", "DEA36E42151"), ("+49*810*000*438", "49810000438"), ("", ""),
            ("de*äbc", "DEÄBC"), ("straße*1", "STRASSE1"),  // not ASCII: Unicode upper-casing, as before
        ])
    func normalized(id: String, expected: String) {
        #expect(OperatorIdentity.normalized(operatorID: id) == expected)
    }

    static let ids = [
        "DE*A36", "DEA36", "de*a36", "DE*A36*E4215*1", "DEA36E42151", "de*a36*e4215*1", "+49*810", "49810", "49*810*",
        "DE*A37", "DE*A3", "DE*A36*", "*", "", "de*äbc", "DE*ÄBC", "DEÄBC", "straße", "STRASSE", "de*A36*x",
        // Canonically equivalent, but not once upper-cased (U+0345 becomes U+0399, a base letter).
        "a\u{0345}\u{0316}", "a\u{0316}\u{0345}", "\u{03B1}\u{0345}\u{0301}", "\u{1FB4}",
    ]

    @Test("equivalent agrees with comparing normalized forms, for every pair")
    func equivalent() {
        for one in Self.ids {
            for other in Self.ids {
                let expected = OperatorIdentity.normalized(operatorID: one) == OperatorIdentity.normalized(operatorID: other)
                #expect(OperatorIdentity.equivalent(one, other) == expected, "\(one) / \(other)")
                #expect(OperatorIdentity.sameEvse(one, other) == expected, "\(one) / \(other)")
            }
        }
    }
}
