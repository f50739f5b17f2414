import Foundation
public import Postgres

/// A named follower of the store's gap-safe order whose position is kept in the database: the
/// store hands it batches of events, and what it writes for a batch commits in the same
/// transaction as its new checkpoint, so a database side effect happens exactly once.
///
/// - **Checkpoints** are one-row tables (`transaction_id`, `position`, `events_applied`,
///   `updated_at`). A subscription may keep several (the projector keeps one per read model, so
///   a rebuild can swap one model in with its own). A batch starts at the lowest and never
///   passes another, so each checkpoint it moves was exactly where the batch started; moving is
///   a compare-and-set, and a checkpoint found elsewhere (a rebuild swapped its schema in)
///   rolls the batch back (`.checkpointMoved`).
/// - **One active instance per name** across processes: a session advisory lock
///   (`tryLock`) on the subscriber's own connection, which it writes through, so losing the
///   connection loses the lock and the uncommitted batch together.
/// - **Gap-safe**: only events below the read horizon are handed out, so an event that
///   commits late at a lower position is still delivered (see `EventStore.readAll`).
///
/// `SubscriptionRunner` runs one with standby, wake-ups and retries; the forwarder and the
/// rebuild call `step` in loops of their own.
public struct Subscription: Sendable {
    /// What one step hands the subscriber.
    public struct Batch: Sendable {
        public var events: [RecordedEvent]
        /// Where the moved checkpoints were, and where they go.
        public var from: ReadCursor
        public var to: ReadCursor
        /// Which of `checkpoints` this batch moves (the others are past it already).
        public var advancing: [Int]
    }

    /// What one step did.
    public enum Outcome: Sendable, Equatable {
        /// `count` events were handed over and the checkpoints moved to `cursor`, in one commit.
        case applied(count: Int, cursor: ReadCursor)
        /// Nothing to apply. `held` is true when committed events exist past the checkpoint but
        /// above the read horizon: an older transaction is still open, and a read soon will find them.
        case idle(held: Bool)
        /// A checkpoint was not where the step read it (a rebuild swapped a schema in); nothing
        /// was written.
        case checkpointMoved
    }

    /// The subscription's name (logs, the connection's application name).
    public let name: String
    /// The advisory locks an active instance holds, all of them: by default the name alone. A
    /// subscriber that writes for several owners (the projector, one lock per read model) holds
    /// one per owner, so that no other subscriber writing for one of them is active at once.
    public var locks: [String]
    /// The checkpoint tables, schema-qualified.
    public let checkpoints: [String]
    /// Events per batch at most.
    public var batchSize: Int
    /// Members of each event's `data` the subscriber does not read, left out by the server.
    public var omittingData: [String]

    public init(name: String, checkpoints: [String], locks: [String]? = nil, batchSize: Int = 1000, omittingData: [String] = []) {
        precondition(!checkpoints.isEmpty, "a subscription keeps at least one checkpoint")
        self.name = name
        self.locks = locks ?? [name]
        self.checkpoints = checkpoints
        self.batchSize = batchSize
        self.omittingData = omittingData
    }

    // MARK: - Lock

    /// The advisory-lock namespace of every subscription and rebuild ("ledg"); the key is
    /// `(namespace, hashtext(name))`.
    package static let lockNamespace: Int32 = 0x6C65_6467

    /// Takes the session-level lock `name` if no other connection holds it.
    public static func tryLock(_ name: String, on session: PostgresSession) throws -> Bool {
        try session.query("SELECT pg_try_advisory_lock(\(lockNamespace), hashtext(\(name)))").decode(Bool.self, row: 0, column: 0)
    }

    /// Whether any connection to this database holds the lock `name` now. Advisory locks are
    /// per database, but `pg_locks` shows the whole cluster's: another ledger's database on the
    /// same server holding the same name is not this ledger's projector.
    public static func isLocked(_ name: String, on session: PostgresSession) throws -> Bool {
        try session.query(
            """
            SELECT EXISTS (SELECT 1 FROM pg_locks
                            WHERE locktype = 'advisory' AND granted AND classid = \(lockNamespace)::oid
                              AND objid = hashtext(\(name))::oid AND objsubid = 2
                              AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
            """
        ).decode(Bool.self, row: 0, column: 0)
    }

    /// Takes every lock in `names`, or none: when one is held elsewhere, the ones taken are let go.
    public static func tryLock(all names: [String], on session: PostgresSession) throws -> Bool {
        var taken: [String] = []
        for name in names {
            guard try tryLock(name, on: session) else {
                for held in taken { try session.query("SELECT pg_advisory_unlock(\(lockNamespace), hashtext(\(held)))") }
                return false
            }
            taken.append(name)
        }
        return true
    }

    /// Releases every advisory lock this session holds.
    public static func unlockAll(on session: PostgresSession) throws {
        try session.execute(unsafeSQL: "SELECT pg_advisory_unlock_all()")
    }

    // MARK: - Checkpoints

    /// Where a checkpoint table says its subscriber is.
    public static func readCheckpoint(_ table: String, on session: PostgresSession) throws -> ReadCursor {
        let result = try session.prepared("SELECT transaction_id::text, position FROM \(unsafeRaw: table)")
        guard result.rowCount == 1 else {
            throw PostgresError(code: .protocolViolation, message: "\(table) must hold exactly one row")
        }
        return ReadCursor(transactionID: try result.decode(UInt64.self, row: 0, column: 0), position: try result.decode(row: 0, column: 1))
    }

    /// The checkpoints as they are now, in `checkpoints` order.
    public func readCheckpoints(on session: PostgresSession) throws -> [ReadCursor] {
        try checkpoints.map { try Self.readCheckpoint($0, on: session) }
    }

    /// Locks the checkpoint's row for the transaction and says where it is (a concurrent mover is
    /// waited for, and its move seen).
    static func lockCheckpoint(_ table: String, on session: PostgresSession) throws -> ReadCursor {
        let result = try session.prepared("SELECT transaction_id::text, position FROM \(unsafeRaw: table) FOR UPDATE")
        guard result.rowCount == 1 else {
            throw PostgresError(code: .protocolViolation, message: "\(table) must hold exactly one row")
        }
        return ReadCursor(transactionID: try result.decode(UInt64.self, row: 0, column: 0), position: try result.decode(row: 0, column: 1))
    }

    /// Moves `table` forward to `cursor` if it is behind, passing over what lies between (an
    /// operator skipping history), in the caller's transaction; says where it was and whether it moved.
    public static func advanceCheckpoint(_ table: String, to cursor: ReadCursor, on session: PostgresSession) throws -> (from: ReadCursor, moved: Bool) {
        let before = try lockCheckpoint(table, on: session)
        guard before < cursor else { return (before, false) }
        return (before, try moveCheckpoint(table, from: before, to: cursor, count: 0, on: session))
    }

    /// Sets `table` to `cursor` with `eventsApplied` (a rebuild's bulk load, which counted them).
    public static func setCheckpoint(_ table: String, to cursor: ReadCursor, eventsApplied: Int, on session: PostgresSession) throws {
        try session.query(
            """
            UPDATE \(unsafeRaw: table)
               SET transaction_id = \(String(cursor.transactionID)), position = \(cursor.position), events_applied = \(eventsApplied), updated_at = now()
            """
        )
    }

    /// Compare-and-set: moves `table` from `from` to `to`; false when it was not at `from`.
    static func moveCheckpoint(_ table: String, from: ReadCursor, to: ReadCursor, count: Int, on session: PostgresSession) throws -> Bool {
        try session.prepared(
            """
            UPDATE \(unsafeRaw: table)
               SET transaction_id = \(String(to.transactionID)), position = \(to.position),
                   events_applied = events_applied + \(count), updated_at = now()
             WHERE transaction_id = \(String(from.transactionID)) AND position = \(from.position)
            """
        ).affectedRows == 1
    }

    /// The next batch after `cursors`, or the idle outcome (second) when there is none.
    private func nextBatch(on session: PostgresSession, cursors: [ReadCursor]) throws -> (Batch, Outcome?) {
        let start = cursors.min()!
        // A batch never passes a checkpoint that is ahead: up to it, only the ones behind move.
        let bound = cursors.filter { $0 > start }.min()
        let read = try EventStore.readAll(after: start, limit: batchSize, omitting: omittingData, on: session)
        var events = read
        if let bound { events = Array(read.prefix { $0.cursor <= bound }) }
        let to: ReadCursor
        if let last = events.last {
            to = last.cursor
        } else if let bound, !read.isEmpty {
            // Nothing is stored up to the checkpoint ahead: the ones behind catch up to it.
            to = bound
        } else {
            let idle = Batch(events: [], from: start, to: start, advancing: [])
            return (idle, .idle(held: try EventStore.hasEvents(after: start, on: session)))
        }
        return (Batch(events: events, from: start, to: to, advancing: cursors.indices.filter { cursors[$0] == start }), nil)
    }

    // MARK: - One-statement batches

    /// A batch's writes as one statement: common table expressions the store joins to the move of
    /// the checkpoints. Being one statement, it is atomic without a transaction and costs one round
    /// trip: the projector's way, for the lowest lag.
    ///
    /// Every part must write only where `Batch­Statement.moved` holds (put it in the part's
    /// `WHERE`): when a checkpoint is not where the batch started, nothing is written.
    public struct BatchStatement: Sendable {
        /// The condition every part's writes stand under: all the checkpoints moved.
        public static let moved = "EXISTS (SELECT 1 FROM subscription_moved)"
        /// Binds the parts' values.
        public var builder = QueryBuilder()
        /// `name AS (INSERT … / UPDATE …)` parts; names must not start with `subscription_`.
        public var parts: [String] = []

        init() {}
    }

    /// `step`, with the subscriber's writes as parts of the one statement that moves the
    /// checkpoints (see `BatchStatement`). `statement` may read on `session` (the states a batch
    /// folds into); it writes only through the parts.
    public func step(
        on session: PostgresSession, known: inout [ReadCursor]?, inTransaction: Bool = false,
        statement: (Batch, PostgresSession, inout BatchStatement) throws -> Void
    ) throws -> Outcome {
        try step(on: session, known: &known, inTransaction: inTransaction, beforeCommit: nil, statement: statement)
    }

    package func step(
        on session: PostgresSession, known: inout [ReadCursor]?, inTransaction: Bool = false, beforeCommit: BeforeCommit?,
        statement: (Batch, PostgresSession, inout BatchStatement) throws -> Void
    ) throws -> Outcome {
        let cursors = try known ?? readCheckpoints(on: session)
        known = cursors
        let (batch, idle) = try nextBatch(on: session, cursors: cursors)
        if let idle { return idle }
        var write = BatchStatement()
        // All the checkpoints that move must be where the batch started, or none moves. Each is
        // locked and checked first (FOR UPDATE waits for a concurrent writer and then sees its
        // row, so a move that got there first is noticed, not read from the snapshot), and each
        // move runs only when every check held. Values are bound per table: checkpoint tables may
        // keep the transaction id as bigint or as xid8.
        let tables = batch.advancing.map { checkpoints[$0] }
        var parts: [String] = []
        for (index, table) in tables.enumerated() {
            parts.append(
                """
                subscription_check_\(index) AS (
                    SELECT 1 FROM \(table)
                     WHERE transaction_id::text = \(write.builder.bind(String(batch.from.transactionID))) AND position = \(write.builder.bind(batch.from.position))
                       FOR UPDATE)
                """
            )
        }
        parts.append(
            "subscription_moved AS (SELECT 1 WHERE "
                + tables.indices.map { "EXISTS (SELECT 1 FROM subscription_check_\($0))" }.joined(separator: " AND ") + ")"
        )
        for (index, table) in tables.enumerated() {
            parts.append(
                """
                subscription_move_\(index) AS (
                    UPDATE \(table)
                       SET transaction_id = \(write.builder.bind(String(batch.to.transactionID))),
                           position = \(write.builder.bind(batch.to.position)),
                           events_applied = events_applied + \(write.builder.bind(batch.events.count)), updated_at = now()
                     WHERE \(BatchStatement.moved))
                """
            )
        }
        try statement(batch, session, &write)
        let query = write.builder.query("WITH " + (parts + write.parts).joined(separator: ",\n") + "\nSELECT count(*) FROM subscription_moved")
        let run = {
            guard try session.prepared(query).decode(Int.self, row: 0, column: 0) == 1 else { throw Moved() }
            try beforeCommit?(session, batch.events.count)
        }
        do {
            // One statement is atomic by itself; a test hook needs a transaction to come between
            // the write and the commit.
            if inTransaction || beforeCommit == nil { try run() } else { try session.transaction { try run() } }
            known = cursors.map { $0 == batch.from ? batch.to : $0 }
            return .applied(count: batch.events.count, cursor: batch.to)
        } catch is Moved {
            known = nil
            return .checkpointMoved
        } catch {
            known = nil
            throw error
        }
    }

    // MARK: - Stepping

    private struct Moved: Error {}

    /// A test hook: runs on the subscriber's connection after `apply`, before COMMIT.
    package typealias BeforeCommit = @Sendable (_ session: PostgresSession, _ count: Int) throws -> Void

    /// Reads the next batch after the checkpoints and, in one transaction, moves them and lets
    /// `apply` write what the batch means.
    ///
    /// - Parameters:
    ///   - known: the checkpoints as this caller last committed them, to save reading them; set
    ///     to the new ones after a commit, and to nil when they must be read again.
    ///   - inTransaction: the caller has a transaction open (a rebuild's swap): no BEGIN/COMMIT.
    ///   - apply: runs inside the transaction, on `session`; what it throws rolls the batch back.
    /// - Returns: the outcome, and what `apply` returned if it ran and committed.
    public func step<Result>(
        on session: PostgresSession, known: inout [ReadCursor]?, inTransaction: Bool = false,
        apply: (Batch, PostgresSession) throws -> Result
    ) throws -> (Outcome, Result?) {
        try step(on: session, known: &known, inTransaction: inTransaction, beforeCommit: nil, apply: apply)
    }

    package func step<Result>(
        on session: PostgresSession, known: inout [ReadCursor]?, inTransaction: Bool = false, beforeCommit: BeforeCommit?,
        apply: (Batch, PostgresSession) throws -> Result
    ) throws -> (Outcome, Result?) {
        let cursors = try known ?? readCheckpoints(on: session)
        known = cursors
        let (batch, idle) = try nextBatch(on: session, cursors: cursors)
        if let idle { return (idle, nil) }
        let (start, to, events) = (batch.from, batch.to, batch.events)
        func write() throws -> Result {
            // Every checkpoint that moves is locked and checked before any moves: a batch moves
            // all of them or none, also inside a caller's transaction.
            for index in batch.advancing {
                guard try Self.lockCheckpoint(checkpoints[index], on: session) == start else { throw Moved() }
            }
            for index in batch.advancing {
                guard try Self.moveCheckpoint(checkpoints[index], from: start, to: to, count: events.count, on: session) else { throw Moved() }
            }
            let result = try apply(batch, session)
            try beforeCommit?(session, events.count)
            return result
        }
        do {
            let result = try inTransaction ? write() : session.transaction { try write() }
            known = cursors.map { $0 == start ? to : $0 }
            return (.applied(count: events.count, cursor: to), result)
        } catch is Moved {
            known = nil
            return (.checkpointMoved, nil)
        } catch {
            known = nil
            throw error
        }
    }
}
