public import Foundation
public import Postgres

/// Retention (db/0020): the store is partitioned by the month (UTC) each stream began, and a
/// month whose sessions all began longer ago than the retention goes whole: its sessions are
/// pruned from the read models (what they counted is kept in the retired aggregates and the
/// rollups), the seals get an anchor, and its partition is detached and dropped. Never a DELETE
/// of an event, never a long lock.
extension EventStore {
    /// The store's months, the retention's cuts, and what keeps an expired month from going.
    public struct RetentionStatus: Sendable {
        public struct Month: Sendable {
            /// `YYYY-MM`.
            public var month: String
            public var partition: String?
            /// Every session of the month began more than the retention ago.
            public var expired: Bool
            /// Exact for expired months, the planner's estimate for the others.
            public var events: Int64
            /// nil, `retiring`, `anchored` or `dropped`.
            public var state: String?
            /// Why an expired month cannot go yet, with how many.
            public var blockers: [(reason: String, count: Int64)]
            public var droppedAt: Date?
        }

        /// The retention in months; nil keeps everything.
        public var retentionMonths: Int?
        /// Sessions that began before this go (nil without a retention).
        public var cutoff: Date?
        /// The oldest event kept, in the store's order.
        public var oldestEventAt: Date?
        public var partitionsAhead: Int
        /// The months dropped, then the store's, oldest first.
        public var months: [Month]
    }

    /// What `applyRetention` did with one month.
    public struct RetentionStep: Sendable {
        public var month: String
        /// `dropped`, or why it stopped there.
        public var outcome: String
        public var events: Int64
        public var sessionsPruned: Int64
        public var dropped: Bool
    }

    public struct RetentionError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The month text (`YYYY-MM`) of a partition's first day.
    static func monthText(_ day: String) -> String { String(day.prefix(7)) }

    /// The partition db/0020 makes for a month (`YYYY-MM`): `events_YYYY_MM`.
    static func partitionName(_ month: String) -> String { "events_" + month.replacingOccurrences(of: "-", with: "_") }

    /// The months of the store and of the cuts, and what keeps each expired month from going.
    /// Reads only (the service role will do).
    public static func retentionStatus(url: String, months retention: Int?) async throws -> RetentionStatus {
        let connection = try await PostgresConnection.connect(url, applicationName: "error-ledger retention")
        return try await connection.run { session in try retentionStatus(on: session, months: retention) }
    }

    /// - Parameter detailed: count each expired month's events and say what keeps it (`apply`
    ///   needs neither: it checks each month as it comes to it).
    static func retentionStatus(on session: PostgresSession, months retention: Int?, detailed: Bool = true) throws -> RetentionStatus {
        let months = retention ?? 0
        let partitions = try session.query(
            """
            SELECT p.month::text, p.name, \(months) > 0 AND (p.month + interval '1 month') <= (now() AT TIME ZONE 'UTC') - make_interval(months => \(months)),
                   greatest(c.reltuples, 0)::bigint, r.state, (p.month > ledger.month_of(now()))
              FROM ledger.event_partitions() p
              JOIN pg_class c ON c.oid = ('ledger.' || p.name)::regclass
              LEFT JOIN ledger.retention_cuts r ON r.stream_month = p.month
             ORDER BY p.month
            """
        )
        var result: [RetentionStatus.Month] = []
        var ahead = 0
        for row in partitions.rows {
            let day: String = try row.decode(column: 0)
            let expired: Bool = try row.decode(column: 2)
            var month = RetentionStatus.Month(
                month: monthText(day), partition: try row.decode(column: 1), expired: expired, events: try row.decode(column: 3),
                state: try row.decode(String?.self, column: 4), blockers: [], droppedAt: nil
            )
            if try row.decode(Bool.self, column: 5) { ahead += 1 }
            if expired && detailed {
                month.events = try session.query("SELECT count(*) FROM ledger.events WHERE stream_month = \(day)::date").decode(Int64.self, row: 0, column: 0)
                month.blockers = try blockers(of: day, on: session)
            }
            result.append(month)
        }
        // Months dropped, and months half-way whose partition is detached already (a run
        // stopped between the detach and the drop): `apply` finishes those first.
        let attached = Set(result.map(\.month))
        let cuts = try session.query(
            "SELECT stream_month::text, state, coalesce(events, 0), dropped_at FROM ledger.retention_cuts ORDER BY stream_month"
        )
        let dropped = try cuts.rows.compactMap { row -> RetentionStatus.Month? in
            let month = monthText(try row.decode(column: 0)), state: String = try row.decode(column: 1)
            guard !attached.contains(month) else { return nil }
            return RetentionStatus.Month(
                month: month, partition: state == "dropped" ? nil : partitionName(month),
                expired: true, events: try row.decode(column: 2), state: state, blockers: [], droppedAt: try row.decode(Date?.self, column: 3)
            )
        }
        let cutoff = try session.query(
            "SELECT CASE WHEN \(months) > 0 THEN now() - make_interval(months => \(months)) END"
        ).decode(Date?.self, row: 0, column: 0)
        return RetentionStatus(
            retentionMonths: retention, cutoff: cutoff, oldestEventAt: try oldestEventAt(on: session), partitionsAhead: ahead,
            months: dropped + result
        )
    }

    static func blockers(of day: String, on session: PostgresSession) throws -> [(reason: String, count: Int64)] {
        try session.query("SELECT reason, count FROM ledger.retention_blockers(\(day)::date)").rows.map {
            (try $0.decode(String.self, column: 0), try $0.decode(Int64.self, column: 1))
        }
    }

    /// When the oldest event kept was recorded: the first, in the store's order, of the oldest
    /// month that holds any. A few index probes.
    public func oldestEventAt() async throws -> Date? {
        try await pool.run { session in try Self.oldestEventAt(on: session) }
    }

    static func oldestEventAt(on session: PostgresSession) throws -> Date? {
        for row in try session.query("SELECT month::text FROM ledger.event_partitions()").rows {
            let day: String = try row.decode(column: 0)
            let first = try session.prepared(
                "SELECT recorded_at FROM ledger.events WHERE stream_month = \(day)::date ORDER BY transaction_id, global_position LIMIT 1"
            )
            if first.rowCount > 0 { return try first.decode(Date.self, row: 0, column: 0) }
        }
        return nil
    }

    /// How many months after this one have their partitions.
    public func partitionsAhead() async throws -> Int {
        try await pool.run { session in
            try session.prepared("SELECT count(*)::int FROM ledger.event_partitions() WHERE month > ledger.month_of(now())")
                .decode(Int.self, row: 0, column: 0)
        }
    }

    /// `ensurePartitions(on:)` on a connection of the pool.
    @discardableResult
    public func ensurePartitions() async throws -> Int {
        try await pool.run { session in try Self.ensurePartitions(on: session) }
    }

    /// Makes the partitions of this month and the next three that are missing; returns how many
    /// (`serve` at start and the active projector every hour call it).
    @discardableResult
    public static func ensurePartitions(on session: PostgresSession) throws -> Int {
        try session.query("SELECT ledger.ensure_event_partitions(3)").decode(Int.self, row: 0, column: 0)
    }

    /// Takes every expired month out of the store, oldest first, and stops at the first that
    /// cannot go yet (saying why): a month is frozen (its streams refuse events, SQLSTATE LE002),
    /// its sessions are pruned from the read models a batch at a time, the seals' anchor is
    /// written, and its partition is detached (concurrently) and dropped. Needs the owner of the
    /// store (as `migrate` does). Resumes a month left half-way.
    ///
    /// - Parameter wait: how long to wait for the projector and the forwarder to take in a
    ///   frozen month's last events.
    public static func applyRetention(
        url: String, months retention: Int, requestedBy: String, wait: Duration = .seconds(60),
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> [RetentionStep] {
        let connection = try await PostgresConnection.connect(url, applicationName: "error-ledger retention")
        return try await connection.run { session in
            // No rebuild may replay a month while it goes, nor a second retention run.
            guard try Subscription.tryLock(all: ["retention", "rebuild:sessions", "rebuild:evse_errors"], on: session) else {
                throw RetentionError(description: "another retention run or a projection rebuild is running: try again when it has finished")
            }
            defer { try? Subscription.unlockAll(on: session) }
            let status = try retentionStatus(on: session, months: retention, detailed: false)
            var steps: [RetentionStep] = []
            // Months left half-way first (whatever the retention now), then the expired ones.
            let halfWay = status.months.filter { $0.state == "retiring" || $0.state == "anchored" }
            let pending = halfWay + status.months.filter { $0.partition != nil && $0.state == nil && $0.expired }
            for month in pending {
                let step = try retire(month, retention: retention, requestedBy: requestedBy, wait: wait, on: session, progress: progress)
                steps.append(step)
                if !step.dropped { break }
            }
            return steps
        }
    }

    private static func retire(
        _ month: RetentionStatus.Month, retention: Int, requestedBy: String, wait: Duration, on session: PostgresSession,
        progress: @Sendable (String) -> Void
    ) throws -> RetentionStep {
        let day = month.month + "-01"
        var step = RetentionStep(month: month.month, outcome: "", events: month.events, sessionsPruned: 0, dropped: false)
        var state = month.state ?? "new"
        if state == "new" {
            // Its events sealed (the projector seals every 10 s; this is sooner) and taken in by
            // the followers. A seal, like every follower, takes only what is below the cluster's
            // read horizon, which an open transaction anywhere on the server holds back: checked
            // once, the month's newest events could be left out and the month held a day for
            // nothing. So it waits, sealing, for what such a transaction held back.
            _ = try waitUntil(wait, on: session, "SELECT NOT EXISTS (SELECT 1 FROM ledger.retention_blockers(\(day)::date))")
            if let blocked = try blockers(of: day, on: session).first {
                step.outcome = "not yet: \(blocked.count) \(blocked.reason)"
                return step
            }
            state = "retiring"
        }
        if state == "retiring" {
            // Frozen (again, for a run that stopped half-way): every event of the month is
            // committed from here on, and an event for one of its sessions is refused.
            let frozen = try session.query(
                "SELECT ledger.retention_begin(\(day)::date, \(String(retention) + " months"), \(requestedBy))"
            ).decode(Int64.self, row: 0, column: 0)
            progress("\(month.month): retiring, \(frozen) streams frozen (they take no more events)")
            // Its last events sealed and taken in by every follower; no delivery open.
            guard try waitUntil(wait, on: session, "SELECT NOT EXISTS (SELECT 1 FROM ledger.retention_blockers(\(day)::date))") else {
                let blocked = try blockers(of: day, on: session).first
                step.outcome = "not yet: \(blocked.map { "\($0.count) \($0.reason)" } ?? "blocked") (it stays retiring: apply again)"
                return step
            }
            while true {
                let pruned = try session.query("SELECT ledger.retention_prune(\(day)::date, 2000)").decode(Int64.self, row: 0, column: 0)
                if pruned == 0 { break }
                step.sessionsPruned += pruned
                progress("\(month.month): \(step.sessionsPruned) sessions pruned from the read models")
            }
            try session.query("SELECT ledger.retention_anchor(\(day)::date)")
            state = "anchored"
        }
        if state == "anchored" {
            step.events = try session.query("SELECT coalesce(events, 0) FROM ledger.retention_cuts WHERE stream_month = \(day)::date")
                .decode(Int64.self, row: 0, column: 0)
            // A name db/0020 made (events_YYYY_MM from the month's date), never the caller's text.
            let partition = partitionName(month.month)
            let inherits = try session.query(
                "SELECT i.inhdetachpending FROM pg_inherits i WHERE i.inhrelid = to_regclass(\("ledger." + partition))"
            )
            if inherits.rowCount > 0 {
                // Attached: detach without a long lock; pending (a detach interrupted): finish it.
                let how = try inherits.decode(Bool.self, row: 0, column: 0) ? "FINALIZE" : "CONCURRENTLY"
                try session.execute(unsafeSQL: "ALTER TABLE ledger.events DETACH PARTITION ledger.\(partition) \(how)")
            }
            try session.query("SELECT ledger.retention_drop(\(day)::date)")
            progress("\(month.month): \(step.events) events dropped")
        }
        step.outcome = "dropped"
        step.dropped = true
        return step
    }

    /// Polls `condition` (one boolean) every 100 ms until it holds or `limit` has passed,
    /// sealing what can be sealed first and then once a second (not at every poll: a minute's
    /// wait would leave 600 seals of a few hundred events each).
    private static func waitUntil(_ limit: Duration, on session: PostgresSession, _ condition: PostgresQuery) throws -> Bool {
        let deadline = ContinuousClock.now + limit
        var lastSeal: ContinuousClock.Instant?
        while true {
            if lastSeal.map({ ContinuousClock.now - $0 >= .seconds(1) }) ?? true {
                try sealAll(on: session)
                lastSeal = ContinuousClock.now
            }
            if try session.query(condition).decode(Bool.self, row: 0, column: 0) { return true }
            if ContinuousClock.now >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }
}
