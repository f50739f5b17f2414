public import EventStore
import Ledger
public import Logging
import Postgres

/// Keeps the read models current: one subscription (`SubscriptionRunner`) that folds each new
/// batch of events once and writes every projection's rows from that one fold, in the
/// transaction that moves the projections' checkpoints.
///
/// - **One active projector per projection** across every running instance: it holds one lock
///   per read model it writes (`projector:<name>`); the others stand by and take over when it
///   dies, and a projector of one read model alone (`projections run NAME`) never writes beside
///   one of both.
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
        beforeCommit: Subscription.BeforeCommit?
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
            },
            beforeCommit: beforeCommit,
            writer: .statement { batch, session, statement in try writer.write(batch, on: session, into: &statement) }
        )
    }

    public var status: Status { runner.status }

    /// New events may have committed: read now.
    public func ring() { runner.ring() }

    /// Runs until the task is cancelled. Errors are logged and retried, never thrown.
    public func run() async { await runner.run() }
}
