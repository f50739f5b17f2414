public import Foundation

/// Names of the ledger's streams.
///
/// One stream per charging session (`session-<SessionID>`), one per session for its deliveries
/// to Hubject (`delivery-<SessionID>`), and one per UTC day for refused notifications
/// (`quarantine-2026-11-27`). The database checks the `<kind>-<id>` shape.
public enum StreamName {
    public static func session(_ sessionID: String) -> String { "session-" + sessionID }
    public static func delivery(_ sessionID: String) -> String { "delivery-" + sessionID }

    public static func quarantine(day: Date) -> String {
        let days = Int(floor(day.timeIntervalSince1970 / 86_400))
        let (y, m, d) = civil(fromDays: days)
        return "quarantine-" + String(format: "%04d-%02d-%02d", y, m, d)
    }

    /// The SessionID of a `session-` stream, or nil.
    public static func sessionID(of stream: String) -> String? {
        stream.hasPrefix("session-") && stream.count > 8 ? String(stream.dropFirst(8)) : nil
    }

    /// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
    static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
