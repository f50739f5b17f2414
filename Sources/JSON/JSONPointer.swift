import Foundation

/// RFC 6901 JSON pointer building.
package enum JSONPointer {
    /// Escapes one reference token: `~` → `~0`, `/` → `~1` (RFC 6901 §3).
    package static func escape(_ token: String) -> String {
        guard token.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else {
            return token
        }
        return token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// `base` extended by the member `key`.
    package static func appending(_ base: String, _ key: String) -> String {
        base + "/" + escape(key)
    }

    /// `base` extended by the array index `index`.
    package static func appending(_ base: String, _ index: Int) -> String {
        base + "/" + String(index)
    }
}
