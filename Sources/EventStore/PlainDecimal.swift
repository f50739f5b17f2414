/// `text` as an unsigned decimal number if it is nothing but ASCII digits and fits `T`, else nil.
///
/// The cursors the ledger hands out and the integers its parameters take are written this way.
/// Swift's `init?(_: String)` also takes a leading `+` or `-`: a value taken that way once
/// reached PostgreSQL out of range (a 503 for client input) or read `+5-+3` as `5-3`.
package func plainDecimal<T: FixedWidthInteger>(_ text: some StringProtocol, as type: T.Type = T.self) -> T? {
    guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
    return T(text, radix: 10)
}
