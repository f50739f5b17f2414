internal import CLibPQ

/// A PostgreSQL URL or conninfo string as libpq reads it.
public enum ConnectionString {
    /// The settings libpq reads from `conninfo` (`PQconninfoParse`: URL or key/value form, its
    /// quoting and percent-decoding), with the password and every other secret left out: what
    /// `config check` and logs may show. Nil when libpq cannot parse it (with its reason).
    public static func redacted(_ conninfo: String) -> Result<String, ParseError> {
        var message: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &message) else {
            let reason = message.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "out of memory"
            if let message { PQfreemem(message) }
            return .failure(ParseError(reason: reason))
        }
        defer { PQconninfoFree(options) }
        var parts: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            defer { option += 1 }
            guard let value = option.pointee.val else { continue }
            let key = String(cString: keyword)
            // `dispchar` "*" marks a password field (password, sslpassword, …): never shown.
            let secret = option.pointee.dispchar.map { String(cString: $0) == "*" } ?? false
            parts.append(secret || secretKeywords.contains(key) ? "\(key)=***" : "\(key)=\(String(cString: value))")
        }
        return .success(parts.joined(separator: " "))
    }

    /// Keywords whose values are secrets even where libpq does not mark them.
    static let secretKeywords: Set<String> = ["password", "sslpassword", "passfile", "sslkey"]

    public struct ParseError: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "not a PostgreSQL URL or conninfo string: \(reason)" }
    }
}
