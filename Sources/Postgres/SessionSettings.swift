/// What every connection the ledger opens is set up with, so that no database, network or role
/// default can make a request hang or an acknowledgement non-durable.
///
/// | key | type | default |
/// | --- | --- | --- |
/// | `statementTimeout` | longest statement (`statement_timeout`); nil leaves the server's | nil |
/// | `networkTimeout` | how long a silent peer is tolerated (TCP keepalives, `tcp_user_timeout`), at both ends | 20 s |
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

    /// The keepalive timing both ends use: probe after a quarter of the timeout of silence, then
    /// every eighth, three probes.
    private var keepalive: (seconds: Int, idle: Int, interval: Int, count: Int) {
        let seconds = max(1, Int(networkTimeout / .seconds(1)))
        return (seconds, max(1, seconds / 4), max(1, seconds / 8), 3)
    }

    /// libpq connection parameters (the caller's URL, given last, overrides each): keepalives
    /// probe an idle connection after a quarter of the timeout, and `tcp_user_timeout` ends one
    /// whose sent data goes unacknowledged for the whole timeout (a cut link, a vanished host),
    /// so a call fails with a lost connection instead of waiting for the kernel's 15 minutes.
    var connectionParameters: [(String, String)] {
        let (seconds, idle, interval, count) = keepalive
        return [
            ("keepalives", "1"), ("keepalives_idle", String(idle)), ("keepalives_interval", String(interval)),
            ("keepalives_count", String(count)), ("tcp_user_timeout", String(seconds * 1000)),
        ]
    }

    /// The statements run on a new connection.
    ///
    /// The server's end of the connection gets the same keepalives and `tcp_user_timeout`
    /// (PostgreSQL's `tcp_keepalives_*` settings; ignored over a Unix socket). Without them a
    /// backend whose client vanished behind a cut link lives on until the server's kernel gives
    /// up: two hours of keepalive silence when it was idle, minutes of retransmission backoff
    /// when an answer was in flight. Meanwhile it keeps what it held: a projector's or the
    /// forwarder's advisory lock (their replacements stand by, so read models and forwarding
    /// stop after the link is back) and any open transaction (which holds back every gap-safe
    /// reader's horizon).
    var setupSQL: String {
        let (seconds, idle, interval, count) = keepalive
        var sql = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; "
        sql += "SET tcp_keepalives_idle = \(idle); SET tcp_keepalives_interval = \(interval); SET tcp_keepalives_count = \(count); "
        sql += "SET tcp_user_timeout = \(seconds * 1000); "
        sql += "SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') IN ('off', 'local'); "
        // The ledger's statements are index probes and small batches. JIT compiles whenever the
        // planner's estimate is high (a table not analyzed yet, a probe of every month of the
        // partitioned store), and compiling costs hundreds of milliseconds each time.
        sql += "SET jit = off; "
        if let statementTimeout {
            sql += "SET statement_timeout = \(max(1, Int(statementTimeout / .milliseconds(1)))); "
        }
        return sql
    }
}
