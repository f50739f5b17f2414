@testable import API
import Testing

/// The token id read from a presented token before any lookup (`led_<32 characters>_<secret>`).
@Suite("Token ids in presented tokens")
struct TokenIDTests {
    @Test("the id is the 32 characters between the prefix and the secret; anything else has none", arguments: [
        ("led_0123456789abcdef0123456789abcdef_secret", "0123456789abcdef0123456789abcdef"),
        ("led_0123456789abcdef0123456789abcdef_", "0123456789abcdef0123456789abcdef"),
        ("led_0123456789abcdef0123456789abcdef_sec_ret", nil),  // a third separator
        ("led_0123456789abcdef0123456789abcde_secret", nil),  // 31
        ("led_0123456789abcdef0123456789abcdef0_secret", nil),  // 33
        ("LED_0123456789abcdef0123456789abcdef_secret", nil),
        ("xled_0123456789abcdef0123456789abcdef_secret", nil),
        ("led_0123456789abcdef0123456789abcdef", nil),
        ("led_0123456789abcdef0123456789abcd\u{E9}_secret", "0123456789abcdef0123456789abcd\u{E9}"),  // 32 bytes: looked up, unknown
        ("", nil),
    ] as [(String, String?)])
    func tokenID(_ case: (presented: String, id: String?)) {
        #expect(TokenStore.tokenID(of: `case`.presented) == `case`.id, "\(`case`.presented)")
    }
}
