import Foundation

/// Renders received values inside validation messages.
///
/// Values are shown JSON-escaped and cut to `limit` characters, so a 60 000-character field is
/// reported without being echoed whole.
package enum Quote {
    /// Default number of characters shown.
    package static let limit = 40

    /// `"value"`, or `"first 40 characters…" (N characters)` when longer.
    package static func value(_ text: String, limit: Int = Quote.limit) -> String {
        var output = "\""
        var shown = 0
        var truncated = false
        for scalar in text.unicodeScalars {
            if shown == limit {
                truncated = true
                break
            }
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    output +=
                        "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16, uppercase: true)
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
            shown += 1
        }
        if truncated {
            return output + "…\" (\(Length.utf16(text)) characters)"
        }
        return output + "\""
    }
}

extension Quote {
    /// A number literal, cut to `limit` characters when longer.
    package static func number(_ text: String, limit: Int = Quote.limit) -> String {
        guard text.utf8.count > limit else { return text }
        return String(text.prefix(limit)) + "… (\(text.utf8.count) characters)"
    }
}
