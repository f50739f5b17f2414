import Foundation
public import Logging
public import Postgres
import Synchronization

/// Runs a `Subscription` for as long as its task lives: one connection of its own, the lock
/// (or standing by for it), wake-ups from the store's NOTIFY with a polling floor, and retries.
///
/// - When it does not get the lock, it stands by and tries again every `standbyRetry`: when the
///   active instance dies, PostgreSQL drops its lock with its connection and a standby takes
///   over within that interval.
/// - It wakes on every change the store hears (`StoreChanges`, one LISTEN per process) and
///   polls every `pollInterval` as well, so a lost notification delays nothing by more than
///   that. When committed events wait behind an open transaction, it rereads after a few
///   milliseconds instead.
/// - Errors are logged and retried, never thrown: a runner outlives database restarts.
public final class SubscriptionRunner: Sendable {
    /// | key | default |
    /// | --- | --- |
    /// | `batchSize` | 1,000 events per transaction |
    /// | `pollInterval` | 1 s |
    /// | `standbyRetry` | 1 s between attempts to take the lock |
    /// | `settings` | the connection's timeouts (`SessionSettings`); `serve` passes its own |
    public struct Configuration: Sendable {
        public var batchSize: Int
        public var pollInterval: Duration
        public var standbyRetry: Duration
        public var settings = SessionSettings()
        /// Committed events held back this long by an open transaction is a stall: logged at
        /// warning with the transaction that holds them (and again every 10 such periods).
        public var stallWarning: Duration

        public init(batchSize: Int = 1000, pollInterval: Duration = .seconds(1), standbyRetry: Duration = .seconds(1), stallWarning: Duration = .seconds(30)) {
            self.batchSize = batchSize
            self.pollInterval = pollInterval
            self.standbyRetry = standbyRetry
            self.stallWarning = stallWarning
        }
    }

    public enum Role: String, Sendable {
        case connecting
        /// Another instance holds the subscription's lock.
        case standby
        case active
        case stopped
    }

    public struct Status: Sendable {
        public var role: Role
        /// The lowest checkpoint after this runner's last commit.
        public var cursor: ReadCursor?
        public var eventsApplied: Int
        /// The backend of the runner's connection, for `pg_stat_activity` (and tests).
        public var backendPID: Int32?
    }

    /// Applies a batch on the runner's connection, inside the transaction that moves the checkpoints.
    public typealias Apply = @Sendable (Subscription.Batch, PostgresSession) throws -> Void
    /// Writes a batch as parts of the one statement that moves the checkpoints (may read first).
    public typealias Statement = @Sendable (Subscription.Batch, PostgresSession, inout Subscription.BatchStatement) throws -> Void

    package enum Writer: Sendable {
        case transaction(Apply)
        case statement(Statement)
    }

    /// Work the active instance does on its own connection between batches, at most every
    /// `interval` (the projector seals the store). Between batches, not beside them on a
    /// connection of its own: a writing transaction anywhere holds back the read horizon while
    /// it is open, so work beside the batches would stall them for as long as it runs (a first
    /// version that folded statistics that way doubled the projector's lag). A failure is logged
    /// and retried like a failed step.
    package struct Housekeeping: Sendable {
        package var interval: Duration
        package var run: @Sendable (PostgresSession) throws -> Void

        package init(every interval: Duration, run: @escaping @Sendable (PostgresSession) throws -> Void) {
            self.interval = interval
            self.run = run
        }
    }

    public let subscription: Subscription
    private let store: EventStore
    private let configuration: Configuration
    private let logger: Logger
    private let writer: Writer
    private let prepareSession: (@Sendable (PostgresSession) throws -> Void)?
    private let beforeCommit: Subscription.BeforeCommit?
    private let housekeeping: Housekeeping?
    private let state = Mutex(Status(role: .connecting, cursor: nil, eventsApplied: 0, backendPID: nil))
    private let wake = WakeSignal()

    /// - Parameter prepareSession: runs once on each new connection (session settings).
    public convenience init(
        _ subscription: Subscription, store: EventStore, configuration: Configuration = .init(), logger: Logger,
        prepareSession: (@Sendable (PostgresSession) throws -> Void)? = nil, apply: @escaping Apply
    ) {
        self.init(subscription, store: store, configuration: configuration, logger: logger, prepareSession: prepareSession, beforeCommit: nil, writer: .transaction(apply))
    }

    /// A runner whose subscriber writes each batch as parts of one statement (`Subscription.BatchStatement`).
    public convenience init(
        _ subscription: Subscription, store: EventStore, configuration: Configuration = .init(), logger: Logger,
        prepareSession: (@Sendable (PostgresSession) throws -> Void)? = nil, statement: @escaping Statement
    ) {
        self.init(subscription, store: store, configuration: configuration, logger: logger, prepareSession: prepareSession, beforeCommit: nil, writer: .statement(statement))
    }

    package init(
        _ subscription: Subscription, store: EventStore, configuration: Configuration, logger: Logger,
        prepareSession: (@Sendable (PostgresSession) throws -> Void)?, beforeCommit: Subscription.BeforeCommit?, writer: Writer,
        housekeeping: Housekeeping? = nil
    ) {
        var subscription = subscription
        subscription.batchSize = configuration.batchSize
        self.subscription = subscription
        self.store = store
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "subscription"] = "\(subscription.name)"
        self.logger = logger
        self.writer = writer
        self.prepareSession = prepareSession
        self.beforeCommit = beforeCommit
        self.housekeeping = housekeeping
    }

    public var status: Status { state.withLock { $0 } }

    /// Something may have changed: read now.
    public func ring() { wake.ring() }

    /// Runs until the task is cancelled; closing the connection then releases the lock.
    public func run() async {
        let following = store.changes.follow(wake)
        defer { following.cancel() }
        var connection: PostgresConnection?
        var heldDelay = Duration.milliseconds(2)
        var failureDelay = Duration.milliseconds(100)
        var known: [ReadCursor]?
        let subscription = subscription
        var heldSince: ContinuousClock.Instant?
        var nextStallWarning = configuration.stallWarning
        var lastHousekeeping = ContinuousClock.now
        while !Task.isCancelled {
            let seen = wake.generation
            do {
                let conn: PostgresConnection
                if let open = connection, !open.isBroken {
                    conn = open
                } else {
                    setRole(.connecting)
                    conn = try await PostgresConnection.connect(
                        store.url, applicationName: "error-ledger \(subscription.name)", settings: configuration.settings, logger: logger
                    )
                    connection = conn
                    let prepare = prepareSession
                    let pid = try await conn.run { session in
                        try prepare?(session)
                        return session.backendPID
                    }
                    state.withLock { $0.backendPID = pid }
                }
                if status.role != .active {
                    let locks = subscription.locks
                    guard try await conn.run({ try Subscription.tryLock(all: locks, on: $0) }) else {
                        if status.role != .standby { logger.info("another instance runs this subscription; standing by") }
                        setRole(.standby)
                        // A plain sleep: a standby has nothing to read, whatever rings.
                        try? await Task.sleep(for: configuration.standbyRetry)
                        continue
                    }
                    logger.info("subscription active")
                    setRole(.active)
                }
                let (writer, hook) = (writer, beforeCommit)
                let (outcome, position) = try await conn.run { [known] session in
                    var cursors = known
                    let outcome: Subscription.Outcome
                    switch writer {
                    case .transaction(let apply):
                        outcome = try subscription.step(on: session, known: &cursors, beforeCommit: hook, apply: apply).0
                    case .statement(let statement):
                        outcome = try subscription.step(on: session, known: &cursors, beforeCommit: hook, statement: statement)
                    }
                    return (outcome, cursors)
                }
                known = position
                failureDelay = .milliseconds(100)
                if let housekeeping, ContinuousClock.now - lastHousekeeping >= housekeeping.interval {
                    lastHousekeeping = .now
                    try await conn.run { try housekeeping.run($0) }
                }
                switch outcome {
                case .applied(let count, let cursor):
                    heldDelay = .milliseconds(2)
                    state.withLock {
                        $0.cursor = position?.min() ?? cursor
                        $0.eventsApplied += count
                    }
                case .checkpointMoved:
                    logger.info("a checkpoint moved under the subscription (a rebuild was swapped in); continuing from the new one")
                case .idle(held: true):
                    // Committed events wait behind an open transaction. Usually it is an append,
                    // whose commit NOTIFYs; a holder that does not notify (another follower's
                    // write, a long report) is waited out by polling.
                    let since = heldSince ?? ContinuousClock.now
                    heldSince = since
                    if ContinuousClock.now - since >= nextStallWarning {
                        await warnStalled(since: since, on: conn)
                        nextStallWarning += configuration.stallWarning * 10
                    }
                    await wake.wait(after: seen, timeout: heldDelay)
                    heldDelay = min(heldDelay * 2, .milliseconds(16))
                case .idle(held: false):
                    heldDelay = .milliseconds(2)
                    await wake.wait(after: seen, timeout: configuration.pollInterval)
                }
                if case .idle(held: true) = outcome {} else if let since = heldSince {
                    if nextStallWarning > configuration.stallWarning {
                        logger.notice("subscription resumed after a stall", metadata: ["held_s": "\((ContinuousClock.now - since) / .seconds(1))"])
                    }
                    heldSince = nil
                    nextStallWarning = configuration.stallWarning
                }
            } catch {
                if Task.isCancelled { break }
                known = nil
                if connection?.isBroken ?? true {
                    // The lock went with the connection.
                    connection = nil
                    setRole(.connecting)
                }
                logger.warning("subscription step failed; retrying", metadata: LogMetadata.error(error, ["retry_in_s": "\(failureDelay / .seconds(1))"]))
                try? await Task.sleep(for: failureDelay)
                failureDelay = min(failureDelay * 2, .seconds(5))
            }
        }
        setRole(.stopped)
        connection = nil
    }

    private func setRole(_ role: Role) { state.withLock { $0.role = role } }

    /// Logs a stall at warning with its cause: the transaction with the oldest xid in the
    /// cluster (which the gap-safe order waits behind), as `pg_stat_activity` shows it. Its pid,
    /// role, application and state, never its query: a statement typed by hand may carry
    /// personal data or a password. (Another role's `xact_start` and `state` are visible only
    /// with `pg_read_all_stats`; its xid, pid, role and application always are.)
    private func warnStalled(since: ContinuousClock.Instant, on connection: PostgresConnection) async {
        var metadata: Logger.Metadata = ["held_s": "\((ContinuousClock.now - since) / .seconds(1))"]
        let holder = try? await connection.run { session in
            try session.query(
                """
                SELECT pid, coalesce(usename, ''), coalesce(application_name, ''), coalesce(state, 'unknown'),
                       extract(epoch FROM now() - xact_start)::float8
                  FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
                 ORDER BY age(backend_xid) DESC LIMIT 1
                """
            ).rows.first.map { row in
                (try row.decode(Int.self, column: 0), try row.decode(String.self, column: 1), try row.decode(String.self, column: 2),
                 try row.decode(String.self, column: 3), try row.decode(Double?.self, column: 4))
            }
        }
        if let holder = holder ?? nil {
            metadata["holder_pid"] = "\(holder.0)"
            metadata["holder_user"] = "\(holder.1)"
            metadata["holder_application"] = "\(holder.2)"
            metadata["holder_state"] = "\(holder.3)"
            if let open = holder.4 { metadata["holder_open_s"] = "\(Int(open))" }
        }
        logger.warning("subscription stalled: committed events wait behind an open transaction", metadata: metadata)
    }
}
