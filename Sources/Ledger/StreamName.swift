public import Foundation
import OICP

/// Names of the ledger's streams.
///
/// One stream per charging session (`session-<SessionID>`), one per session for its deliveries
/// to Hubject (`delivery-<SessionID>`), and one per UTC day for refused notifications
/// (`quarantine-2026-11-27`). The database checks the `<kind>-<id>` shape.
public enum StreamName {
    public static func session(_ sessionID: String) -> String { "session-" + sessionID }
    public static func delivery(_ sessionID: String) -> String { "delivery-" + sessionID }
    /// The record of the erasures of identifications in the month (UTC) of `date`
    /// (`erasures-YYYY-MM`): a stream per month, so that it goes with its month under retention.
    public static func erasures(at date: Date) -> String {
        let days = Int(floor(date.timeIntervalSince1970 / 86_400))
        let (y, m, _) = Timestamp.civil(fromDays: Int64(days))
        return "erasures-" + String(format: "%04d-%02d", y, m)
    }

    public static func quarantine(day: Date) -> String {
        let days = Int(floor(day.timeIntervalSince1970 / 86_400))
        let (y, m, d) = Timestamp.civil(fromDays: Int64(days))
        return "quarantine-" + String(format: "%04d-%02d-%02d", y, m, d)
    }

    /// The SessionID of a `session-` stream, or nil.
    public static func sessionID(of stream: String) -> String? {
        stream.hasPrefix("session-") && stream.count > 8 ? String(stream.dropFirst(8)) : nil
    }
}
