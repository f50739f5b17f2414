/// One `LEDGER_*` variable the ledger reads: what it takes, its default, whether to mask it.
///
/// `LedgerSetting.all` is the whole list. A `LEDGER_*` name not in it is refused at start-up
/// (a mistyped name silently ignored is a setting silently at its default), except the names
/// under `LEDGER_TEST_` and `LEDGER_DEV_`, which belong to the repository's test, benchmark and
/// development scripts.
public struct LedgerSetting: Sendable {
    public enum Accepted: Sendable {
        case integer(ClosedRange<Int>)
        case onOff
        /// One of the values, exactly.
        case choice([String])
        /// A comma-separated list of some of the values.
        case list([String])
        /// `host:port`.
        case address
        /// Free text: a URL, a path, a conninfo.
        case text
        /// A secret of at least `minimumBytes` bytes written as hexadecimal digits; never shown.
        case secretHex(minimumBytes: Int)
        /// A period in whole months: `24 months`, `2 years`.
        case months
    }

    public let name: String
    public let accepted: Accepted
    /// What applies when the variable is unset, as `config check` shows it.
    public let defaultValue: String
    public let summary: String

    init(_ name: String, _ accepted: Accepted, default defaultValue: String, _ summary: String) {
        self.name = name
        self.accepted = accepted
        self.defaultValue = defaultValue
        self.summary = summary
    }

    /// The accepted values, as an error message names them.
    public var acceptedDescription: String {
        switch accepted {
        case .integer(let range): "an integer \(range.lowerBound)…\(range.upperBound)"
        case .onOff: "on or off"
        case .choice(let values): "one of " + values.joined(separator: ", ")
        case .list(let values): "a comma-separated list of " + values.joined(separator: ", ")
        case .address: "host:port or [ipv6]:port (e.g. 127.0.0.1:8080, [::]:8080)"
        case .text: "any text"
        case .secretHex(let bytes): "at least \(bytes * 2) hexadecimal digits (e.g. `openssl rand -hex 32`)"
        case .months: "N months or N years, at least 1 month (e.g. 24 months, 2 years)"
        }
    }

    /// Why `value` is not accepted, or nil when it is.
    public func problem(with value: String) -> String? {
        if case .secretHex(let bytes) = accepted {
            // The value is a secret: the message does not repeat it.
            let digits = value.lowercased()
            guard digits.count >= bytes * 2, digits.count % 2 == 0, digits.allSatisfy(\.isHexDigit) else {
                return "\(name) is not accepted: use \(acceptedDescription)"
            }
            return nil
        }
        let refused = "\(name)=\(value) is not accepted: use \(acceptedDescription)"
        switch accepted {
        case .integer(let range):
            guard let number = Int(value), range.contains(number) else { return refused }
        case .onOff:
            guard value == "on" || value == "off" else { return refused }
        case .choice(let values):
            guard values.contains(value) else { return refused }
        case .list(let values):
            let items = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard !items.isEmpty, items.allSatisfy(values.contains) else { return refused }
        case .address:
            guard (try? LedgerSetting.parseAddress(value)) != nil else { return refused }
        case .months:
            guard LedgerSetting.parseMonths(value) != nil else { return refused }
        case .text, .secretHex:
            break
        }
        return nil
    }

    /// `host:port` (IPv4) or `[host]:port` (IPv6: `[::]:8080` listens on every interface, IPv4
    /// too), a port 0…65535.
    public static func parseAddress(_ text: String) throws(AddressError) -> (host: String, port: Int) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[close...].hasPrefix("]:") else { throw AddressError(text: text) }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard host.contains(":") else { throw AddressError(text: text) }
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw AddressError(text: text) }
            (host, portText) = (parts[0], parts[1])
        }
        guard let port = Int(portText), (0...65_535).contains(port), !host.isEmpty else { throw AddressError(text: text) }
        return (String(host), port)
    }

    public struct AddressError: Error, CustomStringConvertible {
        public let text: String
        public var description: String { "address \"\(text)\" is not host:port or [ipv6]:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::]:8080)" }
    }

    /// `24 months`, `1 month`, `2 years` (also `24months`, `2y`, `24m`): the number of months, 1…1200;
    /// nil for anything else.
    public static func parseMonths(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = trimmed.prefix(while: \.isASCII).prefix(while: \.isNumber)
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        guard let number = Int(digits), digits.count <= 5 else { return nil }
        let months: Int
        switch unit {
        case "month", "months", "m", "mo": months = number
        case "year", "years", "y": months = number * 12
        default: return nil
        }
        return (1...1200).contains(months) ? months : nil
    }

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    public static let notificationTypes = ["Start", "Progress", "End", "Error"]

    /// Every variable the ledger reads.
    public static let all: [LedgerSetting] = [
        .init("LEDGER_DATABASE_URL", .text, default: "(required)", "PostgreSQL URL or libpq conninfo"),
        .init("LEDGER_LOG_LEVEL", .choice(logLevels), default: "info for serve and projections run, warning for the CLI", "least severe level logged"),
        .init("LEDGER_LOG_FORMAT", .choice(["text", "json"]), default: "text", "json: one JSON object a line"),
        .init("LEDGER_ACCESS_LOG", .onOff, default: "on", "serve: one info line per request on the access logger"),
        .init("LEDGER_MIGRATIONS_DIR", .text, default: "./db", "where migrate finds NNNN-name.sql"),
        .init("LEDGER_HTTP_ADDRESS", .address, default: "127.0.0.1:8080", "serve's listener"),
        .init("LEDGER_ADMIN_ADDRESS", .address, default: "(none: probes and metrics on the main address)", "probes and metrics listener"),
        .init("LEDGER_DB_POOL_SIZE", .integer(2...500), default: "16", "database connections for requests"),
        .init("LEDGER_HTTP_MAX_CONNECTIONS", .integer(1...1_000_000), default: "10000", "open client connections at most"),
        .init("LEDGER_HTTP_MAX_CONNECTIONS_PER_ADDRESS", .integer(1...1_000_000), default: "(no limit)", "open connections per client address"),
        .init("LEDGER_HTTP_EVENT_LOOPS", .integer(1...256), default: "(the number of cores)", "serve's event loop threads"),
        .init("LEDGER_HTTP_WRITE_TIMEOUT_SECONDS", .integer(1...3600), default: "30", "a client that reads nothing this long is closed"),
        .init("LEDGER_SSE_HEARTBEAT_SECONDS", .integer(1...3600), default: "15", "live feed heartbeat"),
        .init("LEDGER_PROJECTOR", .onOff, default: "on", "run the projector inside serve"),
        .init("LEDGER_ERROR_REPLAY_WINDOW_SECONDS", .integer(0...86_400), default: "600", "a keyless Error repeated within it is a replay"),
        .init("LEDGER_DB_STATEMENT_TIMEOUT_SECONDS", .integer(1...3600), default: "30", "statement timeout of request and commit connections"),
        .init("LEDGER_DB_NETWORK_TIMEOUT_SECONDS", .integer(2...600), default: "20", "keepalives and tcp_user_timeout"),
        .init("LEDGER_COMMIT_TIMEOUT_SECONDS", .integer(1...600), default: "10", "an append waits this long for its commit (then 503)"),
        .init("LEDGER_APPEND_QUEUE", .integer(1...1_000_000), default: "4096", "appends waiting for a commit at most (then 503)"),
        .init("LEDGER_INGEST_UNDIGESTED_REPLAYS", .onOff, default: "off", "events stored before content digests count as replays"),
        .init(
            "LEDGER_IDENTIFICATION_PEPPER", .secretHex(minimumBytes: 32), default: "(the database's own, db/0019)",
            "key of the keyed hashes that name identifications; outside the database, a backup cannot confirm a guessed UID"
        ),
        .init(
            "LEDGER_RETENTION", .months, default: "(none: everything is kept)",
            "sessions that began longer ago go, a month at a time (error-ledger retention apply)"
        ),
        .init("LEDGER_HUBJECT_URL", .text, default: "(none: forwarding off)", "Hubject's OICP base URL"),
        .init("LEDGER_HUBJECT_CLIENT_CERT", .text, default: "(none)", "client certificate, PEM file"),
        .init("LEDGER_HUBJECT_CLIENT_KEY", .text, default: "(none)", "client key, PEM file"),
        .init("LEDGER_HUBJECT_CA_BUNDLE", .text, default: "(none)", "Hubject's CA certificates, PEM file"),
        .init("LEDGER_FORWARDING", .onOff, default: "on when LEDGER_HUBJECT_URL is set", "forward to Hubject"),
        .init("LEDGER_FORWARD_TYPES", .list(notificationTypes), default: "Start,Progress,End,Error", "notification types forwarded"),
        .init("LEDGER_FORWARD_PER_MINUTE", .integer(0...100_000), default: "100", "forwarding rate limit (0: none)"),
        .init("LEDGER_FORWARD_MAX_IN_FLIGHT", .integer(1...256), default: "16", "notifications in flight to Hubject at once"),
        .init("LEDGER_FORWARD_TIMEOUT_SECONDS", .integer(1...600), default: "30", "one attempt's timeout"),
        .init("LEDGER_FORWARD_RETRY_ATTEMPTS", .integer(1...1000), default: "12", "attempts before a dead letter"),
        .init("LEDGER_FORWARD_RETRY_MAX_AGE_SECONDS", .integer(1...2_592_000), default: "86400", "age before a dead letter"),
        .init("LEDGER_FORWARD_RETRY_CAP_SECONDS", .integer(1...86_400), default: "300", "longest wait between attempts"),
    ]

    /// Names the ledger read once and no longer does, with what to do instead.
    public static let retired: [String: String] = [
        "LEDGER_READY_MAX_LAG_SECONDS":
            "no longer read: /readyz does not depend on projection lag (it would take every replica out at once); alert on ledger_projection_lag_seconds instead"
    ]

    /// Prefixes of the repository's own scripts (tests, benchmarks, the development database).
    public static let reservedPrefixes = ["LEDGER_TEST_", "LEDGER_DEV_"]

    public static func named(_ name: String) -> LedgerSetting? { all.first { $0.name == name } }
}
