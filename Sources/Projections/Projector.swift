public import EventStore
import Ledger
public import Logging
import Postgres
import Synchronization

/// Keeps the read models current: one subscription (`SubscriptionRunner`) that folds each new
/// batch of events once and writes every projection's rows from that one fold, in the
/// transaction that moves the projections' checkpoints.
///
/// - **One active projector per projection** across every running instance: it holds one lock
///   per read model it writes (`projector:<name>`); the others stand by and take over when it
///   dies, and a projector of one read model alone (`projections run NAME`) never writes beside
///   one of both.
/// - **Seals**: between batches, the active instance seals the store's new events (every 10 s,
///   5,000 at a time, `EventStore.sealChunk`; db/0017).
/// - **Exactly once**: rows and checkpoints commit together. Each projection keeps its own
///   checkpoint in its own schema, so a rebuild can swap one in; the subscription then brings
///   the one behind up to the other before it moves them together again.
///
/// ```swift
/// let projector = Projector(store: store)
/// let task = Task { await projector.run() }   // until cancelled
/// ```
public final class Projector: Sendable {
    public typealias Configuration = SubscriptionRunner.Configuration
    public typealias Role = SubscriptionRunner.Role
    public typealias Status = SubscriptionRunner.Status

    public let projections: [TimelineProjection]
    private let runner: SubscriptionRunner

    public convenience init(
        projections: [TimelineProjection] = TimelineProjection.all, store: EventStore, configuration: Configuration = .init(),
        logger: Logger = Logger(label: "projector")
    ) {
        self.init(projections: projections, store: store, configuration: configuration, logger: logger, beforeCommit: nil)
    }

    init(
        projections: [TimelineProjection], store: EventStore, configuration: Configuration, logger: Logger,
        beforeCommit: Subscription.BeforeCommit?, sealInterval: Duration = EventStore.sealInterval
    ) {
        self.projections = projections
        let writer = ProjectionBatch(targets: projections.map { ($0, $0.schema) })
        runner = SubscriptionRunner(
            Subscription(
                name: "projector", checkpoints: projections.map(\.checkpoint), locks: projections.map(\.projectorLockName),
                omittingData: [RecordedNotification.Key.body]
            ),
            store: store, configuration: configuration, logger: logger,
            prepareSession: { session in
                // Projections are derived: a commit lost in a crash takes its checkpoint with it
                // and is applied again. Not waiting for the WAL flush keeps lag low; the event
                // store's appends keep synchronous_commit on.
                try session.execute(unsafeSQL: "SET synchronous_commit = off")
                // Its statements run thousands of times a minute with the same shape: one
                // generic plan each, not a new plan per batch (PostgreSQL kept choosing custom
                // plans, and planning the batch statement cost a third of running it).
                try session.execute(unsafeSQL: "SET plan_cache_mode = force_generic_plan")
            },
            beforeCommit: beforeCommit,
            writer: .statement { batch, session, statement in try writer.write(batch, on: session, into: &statement) },
            housekeeping: Self.housekeeping(sealInterval: sealInterval)
        )
    }

    /// Every `sealInterval`, the store's new events are sealed, at most `sealChunk` at a time: a
    /// backlog (the whole history, the first time after db/0017) is sealed a chunk every 250 ms,
    /// so no pass keeps the batches waiting for more than a few milliseconds.
    private static func housekeeping(sealInterval: Duration) -> SubscriptionRunner.Housekeeping {
        let sealing = Mutex((last: ContinuousClock.now, backlog: true))
        let partitioned = Mutex<ContinuousClock.Instant?>(nil)
        return SubscriptionRunner.Housekeeping(every: min(sealInterval, .milliseconds(250))) { session in
            // The store's partitions for the months ahead (db/0020), at start and every hour.
            if partitioned.withLock({ $0.map { ContinuousClock.now - $0 >= .seconds(3600) } ?? true }) {
                try EventStore.ensurePartitions(on: session)
                partitioned.withLock { $0 = ContinuousClock.now }
            }
            let due = sealing.withLock { $0.backlog || ContinuousClock.now - $0.last >= sealInterval }
            guard due else { return }
            let sealed = try EventStore.sealChunk(on: session, size: sealChunk)
            sealing.withLock { $0 = (ContinuousClock.now, sealed == sealChunk) }
        }
    }

    /// The most events one housekeeping pass seals (a few milliseconds of work).
    static let sealChunk = 5000

    public var status: Status { runner.status }

    /// New events may have committed: read now.
    public func ring() { runner.ring() }

    /// Runs until the task is cancelled. Errors are logged and retried, never thrown.
    public func run() async { await runner.run() }
}
