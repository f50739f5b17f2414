import Foundation

/// Exact UTF-8 comparison of strings, without Unicode canonical equivalence.
///
/// JSON member names compare code unit by code unit (RFC 8259 §8.3); Swift's `String ==` would
/// make U+212A KELVIN SIGN equal to "K".
package enum UTF8Bytes {
    package static func equal(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        let fast = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right in
                left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0
            }
        }
        if let fast, let result = fast { return result }
        return lhs.utf8.elementsEqual(rhs.utf8)
    }
}
