public import Logging

/// The log metadata every module uses for a failure: one set of keys, and the cause.
///
/// `PostgresError.description` is deliberately generic (it may reach an HTTP answer), so logging
/// `"\(error)"` alone would lose why the database refused. Here a PostgreSQL error also gives its
/// SQLSTATE and the server's message and detail, for the log only.
///
/// | key | value |
/// | --- | --- |
/// | `error` | what failed, as `description` says it |
/// | `sqlstate` | the five-character SQLSTATE, for a server error |
/// | `error_detail` | the server's (or libpq's) message, detail and hint |
///
/// Other keys the ledger logs: `retry_in_s`, `address`, `route`, `position`, `subscription`,
/// `projection`, `records`.
public enum LogMetadata {
    public static func error(_ error: any Error, _ more: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata = more
        metadata["error"] = "\(error)"
        if let error = error as? PostgresError {
            if let state = error.sqlState { metadata["sqlstate"] = "\(state)" }
            var detail = error.message
            if let more = error.detail { detail += "; detail: " + more }
            if let hint = error.hint { detail += "; hint: " + hint }
            metadata["error_detail"] = "\(detail)"
        }
        return metadata
    }
}
