public import EventStore
import Foundation
public import Logging
public import Postgres
import Synchronization

/// Keeps one projection current: folds new events into its tables as they commit.
///
/// - **One active projector per projection** across every running instance: the projector
///   holds a session-level advisory lock on its own connection and writes only through that
///   connection, so losing the connection loses the lock and the write together. A projector
///   that does not get the lock stands by and tries again every `standbyRetry`: when the
///   active one dies, PostgreSQL drops its lock with its connection and a standby takes over
///   within that interval.
/// - **Exactly once**: each batch's rows and its checkpoint commit together (`ProjectionBatch`).
/// - **Wakes** on `ring()` (the runner rings on NOTIFY), and polls every `pollInterval` as
///   well, so a lost notification delays nothing by more than that. When committed events wait
///   behind an open transaction, it rereads after a few milliseconds instead.
public final class Projector: Sendable {
    /// | key | default |
    /// | --- | --- |
    /// | `batchSize` | 1,000 events per transaction |
    /// | `pollInterval` | 1 s |
    /// | `standbyRetry` | 1 s between attempts to take the lock |
    public struct Configuration: Sendable {
        public var batchSize: Int
        public var pollInterval: Duration
        public var standbyRetry: Duration
        /// The connection's network timeout (`SessionSettings`); `serve` passes its own.
        public var settings = SessionSettings()

        public init(batchSize: Int = 1000, pollInterval: Duration = .seconds(1), standbyRetry: Duration = .seconds(1)) {
            self.batchSize = batchSize
            self.pollInterval = pollInterval
            self.standbyRetry = standbyRetry
        }
    }

    /// What this projector is doing.
    public enum Role: String, Sendable {
        case connecting
        /// Another instance holds the projection's lock.
        case standby
        case active
        case stopped
    }

    public struct Status: Sendable {
        public var role: Role
        /// The checkpoint after this projector's last commit.
        public var cursor: ReadCursor?
        public var eventsApplied: Int
        /// The backend of the projector's connection, for `pg_stat_activity` (and tests).
        public var backendPID: Int32?
    }

    public let projection: TimelineProjection
    private let url: String
    private let configuration: Configuration
    private let logger: Logger
    private let doorbell = Doorbell()
    private let state: Mutex<Status>
    private let beforeCommit: ProjectionBatch.BeforeCommit?

    public convenience init(
        projection: TimelineProjection, url: String, configuration: Configuration = .init(),
        logger: Logger = Logger(label: "projector")
    ) {
        self.init(projection: projection, url: url, configuration: configuration, logger: logger, beforeCommit: nil)
    }

    init(
        projection: TimelineProjection, url: String, configuration: Configuration, logger: Logger,
        beforeCommit: ProjectionBatch.BeforeCommit?
    ) {
        self.projection = projection
        self.url = url
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "projection"] = "\(projection.name)"
        self.logger = logger
        self.state = Mutex(Status(role: .connecting, cursor: nil, eventsApplied: 0, backendPID: nil))
        self.beforeCommit = beforeCommit
    }

    public var status: Status { state.withLock { $0 } }

    /// New events may have committed: read now.
    public func ring() { doorbell.ring() }

    /// Runs until the task is cancelled. Errors are logged and retried, never thrown: a
    /// projector outlives database restarts.
    public func run() async {
        var connection: PostgresConnection?
        var heldDelay = Duration.milliseconds(2)
        var failureDelay = Duration.milliseconds(100)
        // The checkpoint as this projector last committed it; nil until read, or after it moved.
        var known: ReadCursor?
        while !Task.isCancelled {
            do {
                let conn: PostgresConnection
                if let open = connection, !open.isBroken {
                    conn = open
                } else {
                    setRole(.connecting)
                    conn = try await PostgresConnection.connect(
                        url, applicationName: "error-ledger projector \(projection.name)", settings: configuration.settings, logger: logger
                    )
                    connection = conn
                    let pid = try await conn.run { session in
                        // Projections are derived: a commit lost in a crash takes its checkpoint with
                        // it and is applied again. Not waiting for the WAL flush keeps lag low; the
                        // event store's appends keep synchronous_commit on.
                        try session.execute(unsafeSQL: "SET synchronous_commit = off")
                        return session.backendPID
                    }
                    state.withLock { $0.backendPID = pid }
                }
                if status.role != .active {
                    let name = projection.projectorLockName
                    let locked = try await conn.run { session in
                        try session.query("SELECT pg_try_advisory_lock(\(TimelineProjection.lockNamespace), hashtext(\(name)))")
                            .decode(Bool.self, row: 0, column: 0)
                    }
                    guard locked else {
                        if status.role != .standby { logger.info("another instance runs this projection; standing by") }
                        setRole(.standby)
                        // A plain sleep: the doorbell rings on every NOTIFY, and a standby has
                        // nothing to read.
                        try? await Task.sleep(for: configuration.standbyRetry)
                        continue
                    }
                    logger.info("projector active")
                    setRole(.active)
                }
                let projection = projection
                let limit = configuration.batchSize
                let hook = beforeCommit
                let stepStarted = ContinuousClock.now
                let outcome = try await conn.run { [known] session in
                    try ProjectionBatch.applyNext(
                        projection, schema: projection.schema, limit: limit, on: session, known: known, beforeCommit: hook
                    )
                }
                logger.trace("projector step", metadata: ["outcome": "\(outcome)", "duration": "\(ContinuousClock.now - stepStarted)"])
                failureDelay = .milliseconds(100)
                switch outcome {
                case .applied(let count, let cursor):
                    known = cursor
                    heldDelay = .milliseconds(2)
                    state.withLock {
                        $0.cursor = cursor
                        $0.eventsApplied += count
                    }
                case .checkpointMoved:
                    known = nil
                    logger.info("checkpoint moved under the projector (a rebuild was swapped in); continuing from the new one")
                case .idle(held: true):
                    // Committed events wait behind an open transaction. Usually it is an append,
                    // whose commit NOTIFYs and rings the bell; a holder that does not notify (a
                    // projector's own write, a long report) is waited out by polling.
                    await doorbell.wait(timeout: heldDelay)
                    heldDelay = min(heldDelay * 2, .milliseconds(16))
                case .idle(held: false):
                    heldDelay = .milliseconds(2)
                    await doorbell.wait(timeout: configuration.pollInterval)
                }
            } catch {
                if Task.isCancelled { break }
                known = nil
                if connection?.isBroken ?? true {
                    // The lock went with the connection.
                    connection = nil
                    setRole(.connecting)
                }
                logger.warning("projector step failed; retrying", metadata: ["error": "\(error)", "retry_in": "\(failureDelay)"])
                try? await Task.sleep(for: failureDelay)
                failureDelay = min(failureDelay * 2, .seconds(5))
            }
        }
        setRole(.stopped)
        connection = nil  // closing the connection releases the lock
    }

    private func setRole(_ role: Role) { state.withLock { $0.role = role } }
}

/// Runs a projector per projection and rings them when events commit.
///
/// ```swift
/// let runner = ProjectionRunner(url: url)
/// let task = Task { await runner.run() }   // until cancelled
/// ```
public final class ProjectionRunner: Sendable {
    public let projectors: [Projector]
    private let url: String
    private let logger: Logger

    public init(
        url: String, projections: [TimelineProjection] = TimelineProjection.all, configuration: Projector.Configuration = .init(),
        logger: Logger = Logger(label: "projector")
    ) {
        self.url = url
        self.logger = logger
        self.projectors = projections.map { Projector(projection: $0, url: url, configuration: configuration, logger: logger) }
    }

    init(projectors: [Projector], url: String, logger: Logger) {
        self.projectors = projectors
        self.url = url
        self.logger = logger
    }

    /// Runs every projector and the listener until the task is cancelled.
    public func run() async {
        let listener = PostgresListener(url: url, channels: ["ledger_events"], logger: logger)
        listener.start()
        await withTaskGroup(of: Void.self) { group in
            for projector in projectors { group.addTask { await projector.run() } }
            group.addTask { [projectors] in
                for await _ in listener.events {
                    for projector in projectors { projector.ring() }
                }
            }
            group.addTask {
                // Park until cancelled, then stop the listener (which ends its stream).
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                listener.stop()
            }
            await group.waitForAll()
        }
    }
}
