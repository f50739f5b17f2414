/// What every connection the ledger opens is set up with, so that no database, network or role
/// default can make a request hang or an acknowledgement non-durable.
///
/// | key | type | default |
/// | --- | --- | --- |
/// | `statementTimeout` | longest statement (`statement_timeout`); nil leaves the server's | nil |
/// | `networkTimeout` | how long a silent peer is tolerated (TCP keepalives, `tcp_user_timeout`) | 20 s |
///
/// `synchronous_commit` is raised to `on` when the role or database sets it lower (`off`,
/// `local`): the ledger acknowledges a notification once its commit returned, and that promise
/// holds only if the commit is flushed (and, with synchronous standbys, replicated). A stronger
/// setting (`remote_apply`) is kept.
public struct SessionSettings: Sendable, Hashable {
    public var statementTimeout: Duration?
    public var networkTimeout: Duration

    public init(statementTimeout: Duration? = nil, networkTimeout: Duration = .seconds(20)) {
        self.statementTimeout = statementTimeout
        self.networkTimeout = networkTimeout
    }

    /// libpq connection parameters (the caller's URL, given last, overrides each): keepalives
    /// probe an idle connection after a quarter of the timeout, and `tcp_user_timeout` ends one
    /// whose sent data goes unacknowledged for the whole timeout (a cut link, a vanished host),
    /// so a call fails with a lost connection instead of waiting for the kernel's 15 minutes.
    var connectionParameters: [(String, String)] {
        let seconds = max(1, Int(networkTimeout / .seconds(1)))
        let idle = max(1, seconds / 4)
        let interval = max(1, seconds / 8)
        return [
            ("keepalives", "1"), ("keepalives_idle", String(idle)), ("keepalives_interval", String(interval)),
            ("keepalives_count", "3"), ("tcp_user_timeout", String(seconds * 1000)),
        ]
    }

    /// The statements run on a new connection.
    var setupSQL: String {
        var sql = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; "
        sql += "SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') IN ('off', 'local'); "
        if let statementTimeout {
            sql += "SET statement_timeout = \(max(1, Int(statementTimeout / .milliseconds(1)))); "
        }
        return sql
    }
}
