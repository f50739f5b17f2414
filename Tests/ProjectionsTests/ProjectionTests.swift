import EventStore
import Foundation
import Ledger
import Logging
import Postgres
@testable import Projections
import Testing
import TestSupport

@Suite("Projections against PostgreSQL")
struct ProjectionTests {
    let evse = "DE*A36*E0001*1"
    let otherEVSE = "DE*A36*E0002*1"

    @Test("an EVSE timeline row written on its own is byte for byte what its fields write: escapes, non-ASCII, no ErrorAdditionalInfo")
    func errorRowJSON() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        let evse = NotificationBody.newEvse("DE*A36")
        for info in [#"say \"hi\"\\n tab\t é 😀 </x>"#, nil, "plain"] {
            try await ledger.ingest(NotificationBody.error(NotificationBody.newSession(), evse: evse, info: info))
        }
        let projector = start(Projector(store: ledger.store, configuration: .init(pollInterval: .milliseconds(50))))
        defer { projector.cancel() }
        for projection in TimelineProjection.all { try await ledger.waitUntilCaughtUp(projection) }
        let items = try await ledger.queries.evseErrors(evse).items
        #expect(items.count == 3)
        #expect(items.contains { $0.errorAdditionalInfo == nil } && items.contains { $0.errorAdditionalInfo?.contains("😀") == true })
        for item in items {
            var own: [UInt8] = [], generic: [UInt8] = []
            item.writeJSON(to: &own)
            item.writeFieldsJSON(to: &generic)
            #expect(String(decoding: own, as: UTF8.self) == String(decoding: generic, as: UTF8.self))
        }
    }

    @Test("the projector folds a session's lifecycle and errors into both projections")
    func readModels() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        let charging = NotificationBody.newSession()
        let failed = NotificationBody.newSession()
        let base = Date(timeIntervalSince1970: 1_795_000_000)
        try await ledger.ingest(NotificationBody.start(charging, evse: evse), at: base)
        try await ledger.ingest(NotificationBody.progress(charging, evse: evse, minute: 15), at: base + 60)
        try await ledger.ingest(NotificationBody.error(charging, evse: evse, type: "CriticalError", info: "RCD tripped"), at: base + 120)
        try await ledger.ingest(NotificationBody.end(charging, evse: evse), at: base + 180)
        try await ledger.ingest(NotificationBody.error(failed, evse: otherEVSE, operator: "DE*B12", type: "ConnectorError"), at: base + 240)

        let runner = Projector(store: ledger.store, configuration: .init(pollInterval: .milliseconds(100)))
        let task = Task { await runner.run() }
        defer { task.cancel() }
        for projection in TimelineProjection.all { try await ledger.waitUntilCaughtUp(projection) }

        let summary = try #require(try await ledger.queries.session(charging))
        #expect(summary.status == "ended")
        #expect(summary.evseID == evse)
        #expect(summary.chargingStart == "2026-11-20T10:00:00+01:00")
        #expect(summary.chargingEnd == "2026-11-20T10:59:00+01:00")
        #expect(summary.consumedEnergy == "8.250")
        #expect(summary.errorCount == 1)
        #expect(summary.lastErrorType == "CriticalError")
        #expect(summary.lastErrorAt == base + 120)
        #expect(summary.eventCount == 4)

        let timeline = try await ledger.queries.sessionTimeline(charging)
        #expect(timeline.items.map(\.notificationType) == ["Start", "Progress", "Error", "End"])
        #expect(timeline.items.map(\.seq) == [1, 2, 3, 4])
        #expect(timeline.items[1].occurredAt == "2026-11-20T10:15:00+01:00")
        #expect(timeline.items[2].phase == "abrupt_end", "an Error followed by the End ended the session")
        #expect(timeline.items[2].errorAdditionalInfo == "RCD tripped")
        #expect(timeline.next == nil)

        let failedSummary = try #require(try await ledger.queries.session(failed))
        #expect(failedSummary.status == "errored")

        let errors = try await ledger.queries.evseErrors(evse)
        #expect(errors.items.count == 1)
        #expect(errors.items.first?.phase == "abrupt_end")
        #expect(errors.items.first?.sessionID == charging)
        let before = try await ledger.queries.evseErrors(otherEVSE)
        #expect(before.items.map(\.phase) == ["before_charging"])

        let evseSummary = try #require(try await ledger.queries.evseSummary(evse, now: base + 3600))
        #expect(evseSummary.errorCounts == ["CriticalError": 1])
        #expect(evseSummary.recent["CriticalError"]?.last24Hours == 1)
        #expect(evseSummary.sessions == 1)
        #expect(evseSummary.sessionsWithErrors == 1)
        #expect(evseSummary.lastSessionID == charging)
        #expect(evseSummary.lastSessionStatus == "ended")
        let later = try #require(try await ledger.queries.evseSummary(evse, now: base + 2 * 86_400))
        #expect(later.recent["CriticalError"]?.last24Hours ?? 0 == 0, "the 24 h window moved past the error")
        #expect(later.recent["CriticalError"]?.last7Days == 1)

        let fleet = try await ledger.queries.errors()
        #expect(fleet.items.map(\.sessionID) == [failed, charging], "newest first")
        let b12 = try await ledger.queries.errors(ErrorFilter(operatorID: "DE*B12"))
        #expect(b12.items.map(\.sessionID) == [failed])
        let critical = try await ledger.queries.errors(ErrorFilter(errorTypes: ["CriticalError"]))
        #expect(critical.items.map(\.sessionID) == [charging])
        let window = try await ledger.queries.errors(ErrorFilter(from: base + 200, to: base + 300))
        #expect(window.items.map(\.sessionID) == [failed])
        let top = try await ledger.queries.topEvses(from: base, to: base + 3600)
        #expect(top.map(\.evseID) == [evse, otherEVSE] || top.map(\.evseID) == [otherEVSE, evse])
        #expect(top.map(\.errors) == [1, 1])
    }

    @Test("folded in small batches by the projector, the models equal a rebuild from scratch")
    func incrementalEqualsRebuild() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        let projectors = [Projector(store: ledger.store, configuration: .init(batchSize: 7, pollInterval: .milliseconds(50)))]
        let tasks = projectors.map(start)
        defer { tasks.forEach { $0.cancel() } }
        // Projectors run while the events arrive, so batches cut sessions at arbitrary points.
        var total = try await ingestRandomSessions(ledger, count: 150, seed: 7)
        // Late notifications for the oldest sessions, hundreds of events after their others.
        let oldest = try await ledger.sql { session in
            try session.query("SELECT data->>'session_id', data->>'evse_id' FROM ledger.events ORDER BY global_position LIMIT 5").rows.map {
                (try $0.decode(String.self, column: 0), try $0.decode(String.self, column: 1))
            }
        }
        for (session, evse) in oldest {
            try await ledger.ingest(NotificationBody.error(session, evse: evse, type: "CriticalError", info: "late"))
            total += 1
        }
        for projection in TimelineProjection.all { try await ledger.waitUntilCaughtUp(projection) }

        // Small pages and at most 20 sessions in memory: most states are written out of memory
        // during the replay, and read back when a late event of theirs turns up.
        var rebuilder = ProjectionRebuilder(store: ledger.store, url: ledger.url)
        rebuilder.pageSize = 5
        rebuilder.maxResidentSessions = 20
        let report = try await rebuilder.rebuild(TimelineProjection.all, swap: false)
        #expect(report.events == total)
        #expect(report.statesReloaded > 0, "the test must exercise reading spilled states back")
        #expect(report.sessions == 150)
        for projection in TimelineProjection.all {
            let live = try await ledger.dump(projection)
            let rebuilt = try await ledger.dump(projection, schema: projection.buildSchema)
            expectSameModel(live, rebuilt, projection.schema)
            #expect((live["evse_errors"]?.count ?? live["session_events"]?.count ?? 0) > 0)
        }
        // The statistics rollups took part: errors in each phase (some moved to abrupt_end by a
        // later End), every session counted, sessions with abrupt ends.
        let rollup = try await ledger.sql { session in
            try session.query(
                """
                SELECT (SELECT count(DISTINCT phase) FROM projection_evse_errors.error_hours WHERE errors > 0)::int,
                       (SELECT sum(sessions) FROM projection_evse_errors.operator_session_hours)::int,
                       (SELECT sum(abrupt_ends) FROM projection_evse_errors.session_hours)::int,
                       (SELECT count(*) FROM projection_evse_errors.sessions WHERE abrupt_end)::int
                """
            ).rows.map { [try $0.decode(Int.self, column: 0), try $0.decode(Int.self, column: 1), try $0.decode(Int.self, column: 2), try $0.decode(Int.self, column: 3)] }.first ?? []
        }
        #expect(rollup.count == 4 && rollup[0] == 3 && rollup[1] == 150, "\(rollup)")
        #expect(rollup.count == 4 && rollup[2] > 0 && rollup[2] == rollup[3], "\(rollup)")
    }

    @Test("a projector killed mid-batch and between batches neither skips nor repeats an event")
    func crashRecovery() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        let total = try await ingestRandomSessions(ledger, count: 60, seed: 11)
        let projection = TimelineProjection.evseErrors

        // Mid-batch: on its third batch the projector's backend is killed after the rows are
        // written and before COMMIT, as a crash of the process would kill it.
        let batches = Counter()
        let dying = Projector(
            projections: [projection], store: ledger.store, configuration: .init(batchSize: 10, pollInterval: .milliseconds(50)),
            logger: .init(label: "test"),
            beforeCommit: { session, _ in
                if batches.increment() == 3 { try session.query("SELECT pg_terminate_backend(pg_backend_pid())") }
            }
        )
        let first = start(dying)
        try await eventually("the projector died mid-batch and went on") { batches.value >= 5 }
        // Between batches: stop it outright and start a new instance.
        first.cancel()
        await first.value
        let afterCrash = try await ProjectionLag.read([projection], store: ledger.store)[0]
        #expect(afterCrash.eventsApplied > 0)

        let second = start(Projector(projections: [projection], store: ledger.store, configuration: .init(batchSize: 10, pollInterval: .milliseconds(50))))
        defer { second.cancel() }
        try await ledger.waitUntilCaughtUp(projection)
        let lag = try await ProjectionLag.read([projection], store: ledger.store)[0]
        #expect(lag.eventsApplied == Int64(total), "every event applied exactly once")

        _ = try await ProjectionRebuilder(store: ledger.store, url: ledger.url).rebuild([projection], swap: false)
        let live = try await ledger.dump(projection)
        let rebuilt = try await ledger.dump(projection, schema: projection.buildSchema)
        expectSameModel(live, rebuilt, "after crashes")
    }

    @Test("the active projector seals the store's new events between batches")
    func seals() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        for _ in 0..<3 { try await ledger.ingest(NotificationBody.start(NotificationBody.newSession(), evse: evse)) }
        #expect(try await ledger.store.verifyChains().sealedEvents == 0)
        func projector() -> Projector {
            Projector(
                projections: TimelineProjection.all, store: ledger.store, configuration: .init(pollInterval: .milliseconds(20)),
                logger: Logger(label: "projector"), beforeCommit: nil, sealInterval: .milliseconds(20)
            )
        }
        let active = start(projector())
        defer { active.cancel() }
        try await eventually(timeout: .seconds(30), "every event sealed") {
            let report = try await ledger.store.verifyChains()
            return report.isIntact && report.events == 3 && report.sealedEvents == 3
        }
        try await ledger.ingest(NotificationBody.start(NotificationBody.newSession(), evse: evse))
        try await eventually(timeout: .seconds(10), "the new event sealed") { try await ledger.store.verifyChains().sealedEvents == 4 }
        let report = try await ledger.store.verifyChains()
        #expect(report.isIntact && report.seals >= 2 && report.unsealedEvents == 0, "\(report)")
    }

    @Test("one projector is active per projection; a standby takes over within seconds when it dies")
    func takeover() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        let configuration = Projector.Configuration(pollInterval: .milliseconds(50), standbyRetry: .milliseconds(200))
        let first = Projector(projections: [.sessions], store: ledger.store, configuration: configuration)
        let second = Projector(projections: [.sessions], store: ledger.store, configuration: configuration)
        let firstTask = start(first)
        try await eventually("the first projector is active") { first.status.role == .active }
        let secondTask = start(second)
        defer { secondTask.cancel() }
        try await eventually("the second projector stands by") { second.status.role == .standby }

        let session = NotificationBody.newSession()
        try await ledger.ingest(NotificationBody.start(session, evse: evse))
        try await ledger.waitUntilCaughtUp(.sessions)
        // The status moves just after the commit the lag report sees.
        try await eventually("the first projector counts the event") { first.status.eventsApplied == 1 }
        #expect(second.status.eventsApplied == 0)
        #expect(first.status.role == .active && second.status.role == .standby, "never two active")

        let clock = ContinuousClock()
        let died = clock.now
        firstTask.cancel()  // the process dies: its connection, and the lock with it, go
        await firstTask.value
        // Seconds, not the 20 s network timeout a lock kept by a dead connection would wait out;
        // not 3 s either: a server busy with every other suite may take a while to end a backend.
        try await eventually(timeout: .seconds(15), "the standby takes over") { second.status.role == .active }
        let takeover = clock.now - died
        #expect(takeover < .seconds(10), "took over after \(takeover)")

        try await ledger.ingest(NotificationBody.end(session, evse: evse))
        try await ledger.waitUntilCaughtUp(.sessions)
        try await eventually("the second projector counts the event") { second.status.eventsApplied == 1 }
        #expect(first.status.role == .stopped)
        #expect(try await ledger.queries.session(session)?.status == "ended")
    }

    @Test("a rebuild swaps in atomically: readers see the old model or the new one, never a part")
    func rebuildSwap() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        let total = try await ingestRandomSessions(ledger, count: 200, seed: 17)
        // A live projector, caught up, keeps running through the rebuild and the swap. (Caught
        // up first: other suites' open transactions hold the cluster's read horizon back, so a
        // model built "now" may legitimately stop short of the newest events.)
        let projector = start(Projector(projections: [.sessions], store: ledger.store, configuration: .init(pollInterval: .milliseconds(50))))
        defer { projector.cancel() }
        try await ledger.waitUntilCaughtUp(.sessions)
        // Damage the live model, so old and new differ: 10 rows gone.
        try await ledger.sql { session in
            try session.execute(unsafeSQL: "DELETE FROM projection_sessions.session_events WHERE ctid IN (SELECT ctid FROM projection_sessions.session_events LIMIT 10)")
        }
        let damaged = total - 10
        let observed = Observations()
        let reader = Task {
            let connection = try await PostgresConnection.connect(ledger.url)
            while !Task.isCancelled {
                let count = try await connection.run { try $0.query("SELECT count(*) FROM projection_sessions.session_events").decode(Int.self, row: 0, column: 0) }
                observed.add(count)
            }
        }
        // Reading before the rebuild starts: on a busy machine its connection could come after a
        // short rebuild had finished.
        try await eventually("the reader runs") { !observed.values.isEmpty }
        let report = try await ProjectionRebuilder(store: ledger.store, url: ledger.url).rebuild([.sessions]) { _ in }
        reader.cancel()
        _ = await reader.result
        #expect(report.events == total, "every event the live projector had applied was below the rebuild's horizon")
        let counts = observed.values
        #expect(counts.count > 5, "the reader ran during the rebuild")
        #expect(Set(counts).isSubset(of: [damaged, total]), "saw \(Set(counts).sorted()) for \(damaged) → \(total)")
        #expect(counts.last == total)

        // The live projector goes on from the swapped-in checkpoint.
        let session = NotificationBody.newSession()
        try await ledger.ingest(NotificationBody.error(session, evse: evse))
        try await ledger.waitUntilCaughtUp(.sessions)
        #expect(try await ledger.queries.session(session)?.status == "errored")
        let schemas = try await ledger.sql { session in
            try session.query("SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'projection_%'")
                .decode(String.self, row: 0, column: 0)
        }
        #expect(schemas == "projection_evse_errors,projection_sessions", "no build or retired schema left behind")
    }

    @Test("error pages are stable while errors keep arriving: no repeats, no gaps")
    func stablePagination() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        let base = Date(timeIntervalSince1970: 1_795_000_000)
        var expected: [String] = []
        for index in 0..<30 {
            let session = NotificationBody.newSession()
            expected.append(session)
            // Pairs share a received-at instant: the position breaks the tie.
            try await ledger.ingest(NotificationBody.error(session, evse: evse), at: base + Double(index / 2))
        }
        let projector = start(Projector(projections: [.evseErrors], store: ledger.store, configuration: .init(pollInterval: .milliseconds(50))))
        defer { projector.cancel() }
        try await ledger.waitUntilCaughtUp(.evseErrors)

        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = try await ledger.queries.evseErrors(evse, after: cursor, limit: 7)
            seen += page.items.map(\.sessionID)
            cursor = page.next
            // Newer errors arrive between pages; they belong before the first page, not in later ones.
            try await ledger.ingest(NotificationBody.error(NotificationBody.newSession(), evse: evse), at: base + 3600)
            try await ledger.waitUntilCaughtUp(.evseErrors)
        } while cursor != nil
        #expect(seen.count == Set(seen).count, "no error twice")
        #expect(Set(seen) == Set(expected), "every error that was there once")
        #expect(seen.first == expected.last, "newest first")

        await #expect(throws: QueryError.badCursor("12")) { try await ledger.queries.errors(after: "12") }
        let capped = try await ledger.queries.errors(limit: 1_000_000)
        #expect(capped.items.count <= TimelineQueries.maxLimit)
    }

    @Test("the analyst role reads the analytics views and nothing else; the views follow a rebuild's swap")
    func analystViews() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        // A rebuild reads up to the gap-safe horizon, which another test's open transaction (xids
        // are cluster-wide) may hold back: the live projector brings the models the rest of the way.
        let projector = start(Projector(store: ledger.store, configuration: .init(pollInterval: .milliseconds(50))))
        defer { projector.cancel() }
        func caughtUp() async throws {
            for projection in TimelineProjection.all { try await ledger.waitUntilCaughtUp(projection) }
        }
        let session = NotificationBody.newSession()
        try await ledger.ingest(NotificationBody.start(session, evse: evse))
        try await ledger.ingest(NotificationBody.error(session, evse: evse))
        _ = try await ProjectionRebuilder(store: ledger.store, url: ledger.url).rebuild(TimelineProjection.all) { _ in }
        try await caughtUp()
        let connection = try await PostgresConnection.connect(ledger.url)
        func asAnalyst<T: Sendable>(_ body: @escaping @Sendable (PostgresSession) throws -> T) async throws -> T {
            try await connection.run { session in
                try session.execute(unsafeSQL: "SET ROLE ledger_analyst")
                defer { try? session.execute(unsafeSQL: "RESET ROLE") }
                return try body(session)
            }
        }
        func rows(_ view: String) async throws -> Int {
            try await asAnalyst { try $0.query("SELECT count(*)::int FROM analytics.\(unsafeRaw: view)").decode(Int.self, row: 0, column: 0) }
        }
        #expect(try await rows("errors") == 1)
        #expect(try await rows("sessions") == 1)
        #expect(try await rows("session_events") == 2)
        #expect(try await rows("evse_summaries") == 1)
        #expect(try await rows("deliveries") == 0)
        for table in ["ledger.events", "ledger.api_tokens", "projection_evse_errors.evse_errors", "forwarding.deliveries"] {
            await #expect(throws: PostgresError.self, "the analyst reads \(table)") {
                try await asAnalyst { try $0.query("SELECT 1 FROM \(unsafeRaw: table) LIMIT 1") }
            }
        }
        // A second rebuild swaps new tables in and drops the old ones: the views follow.
        try await ledger.ingest(NotificationBody.error(session, evse: evse, info: "again"))
        _ = try await ProjectionRebuilder(store: ledger.store, url: ledger.url).rebuild(TimelineProjection.all) { _ in }
        try await caughtUp()
        #expect(try await rows("errors") == 2)
        #expect(try await rows("session_events") == 3)
    }

    @Test("lag is visible: events held behind an open transaction are pending, and the open transaction's age is reported")
    func lagVisible() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        let runner = Projector(projections: [.evseErrors], store: ledger.store, configuration: .init(pollInterval: .milliseconds(50)))
        let projector = start(runner)
        defer { projector.cancel() }
        // Active before the sleep below: on a busy server its connection and lock may take longer.
        try await eventually("the projector is active") { runner.status.role == .active }
        // A transaction that holds an xid and stays open pins every gap-safe reader's horizon.
        let blocker = try await PostgresConnection.connect(ledger.url)
        try await blocker.run { session in
            try session.execute(unsafeSQL: "BEGIN")
            try session.query("SELECT pg_current_xact_id()")
        }
        try await ledger.ingest(NotificationBody.error(NotificationBody.newSession(), evse: evse))
        try await Task.sleep(for: .milliseconds(300))
        let held = try await ProjectionLag.read([.evseErrors], store: ledger.store)[0]
        #expect(held.pendingEvents == 1)
        #expect(held.projectorActive)
        let age = try #require(try await ledger.store.oldestOpenTransactionAge())
        #expect(age >= .milliseconds(200))

        try await blocker.run { try $0.execute(unsafeSQL: "COMMIT") }
        // Not 5 s: other tests in the cluster hold transactions of their own (xids are cluster-wide).
        try await ledger.waitUntilCaughtUp(.evseErrors, timeout: .seconds(20))
    }

    @Test("a projector of one read model never writes beside a projector of both: it stands by while the other holds that model's lock")
    func projectorsShareLocksPerReadModel() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        let configuration = Projector.Configuration(pollInterval: .milliseconds(50), standbyRetry: .milliseconds(100))
        let both = Projector(store: ledger.store, configuration: configuration)
        let bothTask = start(both)
        try await eventually("the projector of both is active") { both.status.role == .active }
        let sessionsOnly = Projector(projections: [.sessions], store: ledger.store, configuration: configuration)
        let sessionsTask = start(sessionsOnly)
        defer { sessionsTask.cancel() }
        try await eventually("the projector of one stands by") { sessionsOnly.status.role == .standby }
        try await ledger.ingest(NotificationBody.start(NotificationBody.newSession(), evse: evse))
        try await ledger.waitUntilCaughtUp(.sessions)
        #expect(sessionsOnly.status.role == .standby && sessionsOnly.status.eventsApplied == 0)
        bothTask.cancel()
        await bothTask.value
        try await eventually(timeout: .seconds(15), "the projector of one takes over") { sessionsOnly.status.role == .active }
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    @discardableResult func increment() -> Int { count.withLock { $0 += 1; return $0 } }
    var value: Int { count.withLock { $0 } }
}

final class Observations: Sendable {
    private let list = Mutex<[Int]>([])
    func add(_ value: Int) { list.withLock { $0.append(value) } }
    var values: [Int] { list.withLock { $0 } }
}

import Synchronization