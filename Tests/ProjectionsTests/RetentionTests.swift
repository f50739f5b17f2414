import EventStore
import Foundation
import Ingestion
import Ledger
import Postgres
@testable import Projections
import TestSupport
import Testing

/// Retention (db/0020) against a real PostgreSQL: a month of sessions moved into the past (as the
/// owner: the partition key is not part of an event's hash), then taken out of the store.
@Suite("Retention: whole months go, what they counted stays")
struct RetentionTests {
    static let evse = "DE*A36*ER1*1"
    static let month = "2024-01-01"

    /// Old sessions (start, error, end each) and a new one (start, error), all at one EVSE; the
    /// old ones moved to January 2024; the projector caught up.
    func ledger(oldSessions: Int, beforeIngest: (TestLedger) async throws -> Void = { _ in }) async throws -> (TestLedger, old: [String], new: String) {
        let ledger = try await TestLedger.make()
        try await beforeIngest(ledger)
        let old = (0..<oldSessions).map { _ in NotificationBody.newSession() }, new = NotificationBody.newSession()
        for session in old {
            try await ledger.ingest(NotificationBody.start(session, evse: Self.evse))
            try await ledger.ingest(NotificationBody.error(session, evse: Self.evse, type: "ConnectorError", info: "cable locked"))
            try await ledger.ingest(NotificationBody.end(session, evse: Self.evse))
        }
        try await ledger.ingest(NotificationBody.start(new, evse: Self.evse))
        try await ledger.ingest(NotificationBody.error(new, evse: Self.evse, type: "CriticalError", info: "RCD tripped"))
        let streams = old.map { "'session-\($0)'" }.joined(separator: ", ")
        try await ledger.sql { session in
            try session.execute(
                unsafeSQL: """
                    SELECT ledger.create_event_partition('\(Self.month)');
                    ALTER TABLE ledger.events DISABLE TRIGGER events_reject_update_delete;
                    UPDATE ledger.events SET stream_month = '\(Self.month)' WHERE stream_id IN (\(streams));
                    UPDATE ledger.streams SET stream_month = '\(Self.month)' WHERE stream_id IN (\(streams));
                    ALTER TABLE ledger.events ENABLE TRIGGER events_reject_update_delete
                    """
            )
        }
        return (ledger, old, new)
    }

    func caughtUp(_ ledger: TestLedger) async throws {
        let projector = start(Projector(store: ledger.store, configuration: .init(pollInterval: .milliseconds(50))))
        defer { projector.cancel() }
        for projection in TimelineProjection.all { try await ledger.waitUntilCaughtUp(projection) }
    }

    func count(_ ledger: TestLedger, _ sql: String) async throws -> Int {
        try await ledger.sql { session in try session.query(PostgresQuery(unsafeSQL: sql)).decode(Int.self, row: 0, column: 0) }
    }

    @Test("a month past the retention goes whole: partition dropped, its timelines pruned, EVSE summaries and statistics kept, verify intact, a rebuild agrees")
    func monthGoes() async throws {
        let (ledger, old, new) = try await ledger(oldSessions: 3)
        defer { ledger.close() }
        try await caughtUp(ledger)
        let before = try await ledger.dump(.evseErrors)

        let status = try await EventStore.retentionStatus(url: ledger.url, months: 24)
        let january = try #require(status.months.first { $0.month == "2024-01" })
        #expect(january.expired && january.events == 9 && january.state == nil)
        #expect(status.months.filter { !$0.expired }.count >= 4, "this month and three ahead are kept")
        #expect(status.partitionsAhead == 3)
        #expect(try await EventStore.retentionStatus(url: ledger.url, months: nil).months.allSatisfy { !$0.expired }, "no retention keeps all")

        let steps = try await EventStore.applyRetention(url: ledger.url, months: 24, requestedBy: "test")
        #expect(steps.map(\.month) == ["2024-01"] && steps[0].dropped && steps[0].events == 9 && steps[0].sessionsPruned == 3, "\(steps)")
        #expect(try await count(ledger, "SELECT (to_regclass('ledger.events_2024_01') IS NULL)::int") == 1, "the partition is gone")
        #expect(try await count(ledger, "SELECT count(*)::int FROM ledger.events WHERE event_type <> 'RetentionCut'") == 2)
        #expect(try await count(ledger, "SELECT count(*)::int FROM ledger.events WHERE event_type = 'RetentionCut' AND data->>'month' = '2024-01'") == 1)
        let ids = old.map { "'\($0)'" }.joined(separator: ", ")
        #expect(try await count(ledger, "SELECT count(*)::int FROM projection_sessions.sessions WHERE session_id IN (\(ids))") == 0)
        #expect(try await count(ledger, "SELECT count(*)::int FROM projection_sessions.session_events WHERE session_id IN (\(ids))") == 0)
        #expect(try await count(ledger, "SELECT count(*)::int FROM projection_evse_errors.evse_errors WHERE session_id IN (\(ids))") == 0)
        #expect(try await count(ledger, "SELECT count(*)::int FROM projection_sessions.sessions WHERE session_id = '\(new)'") == 1)

        // What the month counted stays: the EVSE's summary and every rollup are as they were.
        let after = try await ledger.dump(.evseErrors)
        for table in ["evse_summary", "error_hours", "session_hours", "operator_error_hours", "operator_session_days"] {
            #expect(after[table] == before[table], "\(table)")
        }
        #expect(after["evse_summary"]?.first?.contains("ConnectorError") == true && after["evse_summary"]?.first?.contains(",4,") == true, "\(after["evse_summary"] ?? [])")

        let report = try await ledger.store.verifyChains()
        #expect(report.isIntact, "\(report.findings)")
        #expect(report.events == 3, "two kept, and the cut's record")

        // A rebuild from what is left counts the month again from the retired aggregates.
        _ = try await ProjectionRebuilder(store: ledger.store, url: ledger.url).rebuild(TimelineProjection.all, swap: false)
        for projection in TimelineProjection.all {
            let live = try await ledger.dump(projection), built = try await ledger.dump(projection, schema: projection.buildSchema)
            // The live checkpoint counts the events it applied, the month that went included.
            for table in live.keys.sorted() where table != "checkpoint" { #expect(built[table] == live[table], "\(projection.name).\(table)") }
        }

        let again = try await EventStore.applyRetention(url: ledger.url, months: 24, requestedBy: "test")
        #expect(again.isEmpty, "nothing more to drop")
        let dropped = try await EventStore.retentionStatus(url: ledger.url, months: 24).months.first
        #expect(dropped?.month == "2024-01" && dropped?.state == "dropped" && dropped?.events == 9)
    }

    @Test("an open delivery keeps its month; a retiring month refuses its sessions' events (LE002) and a rebuild; once gone, the session starts anew")
    func blockedThenLate() async throws {
        let (ledger, old, _) = try await ledger(oldSessions: 1)
        defer { ledger.close() }
        try await caughtUp(ledger)
        let session = old[0]
        try await ledger.sql { s in
            try s.execute(
                unsafeSQL: """
                    INSERT INTO forwarding.deliveries (position, event_id, session_id, notification_type)
                    SELECT global_position, event_id, '\(session)', 'Start' FROM ledger.events
                     WHERE stream_id = 'session-\(session)' AND stream_version = 1
                    """
            )
        }
        let blocked = try await EventStore.applyRetention(url: ledger.url, months: 24, requestedBy: "test", wait: .seconds(1))
        #expect(blocked.count == 1 && !blocked[0].dropped && blocked[0].outcome.contains("deliveries to Hubject still open"), "\(blocked)")
        let status = try await EventStore.retentionStatus(url: ledger.url, months: 24)
        #expect(status.months.first?.blockers.map(\.reason) == ["deliveries to Hubject still open (pending or retrying)"])
        #expect(try await count(ledger, "SELECT (to_regclass('ledger.events_2024_01') IS NOT NULL)::int") == 1)
        #expect(try await count(ledger, "SELECT count(*)::int FROM ledger.retention_cuts") == 0, "a blocked month is not begun")

        try await ledger.sql { s in try s.execute(unsafeSQL: "UPDATE forwarding.deliveries SET state = 'delivered', finished_at = now()") }
        // The month begins to retire (apply's first step); an Error for its session comes late.
        try await ledger.sql { s in try s.execute(unsafeSQL: "SELECT ledger.retention_begin('\(Self.month)', '24 months', 'test')") }
        await #expect(throws: EventStoreError.self) {
            try await ledger.ingest(NotificationBody.error(session, evse: Self.evse, type: "CriticalError", info: "late"))
        }
        do {
            _ = try await ledger.ingestor.ingest(
                Array(NotificationBody.error(session, evse: Self.evse, type: "CriticalError", info: "late").utf8),
                context: IngestContext(receivedAt: Date(), client: "test", source: "test")
            )
        } catch let error as EventStoreError {
            #expect(error.code == .streamRetiring && error.message.contains("began in 2024-01"), "\(error)")
        }
        await #expect(throws: PostgresError.self, "a rebuild would count the month twice") {
            try await ProjectionRebuilder(store: ledger.store, url: ledger.url).rebuild(TimelineProjection.all, swap: false)
        }

        let steps = try await EventStore.applyRetention(url: ledger.url, months: 24, requestedBy: "test")
        #expect(steps.count == 1 && steps[0].dropped && steps[0].events == 3, "\(steps)")
        // Gone: the same SessionID is a new session, in this month.
        try await ledger.ingest(NotificationBody.error(session, evse: Self.evse, type: "CriticalError", info: "after"))
        #expect(try await count(ledger, "SELECT max(stream_version) FROM ledger.events WHERE stream_id = 'session-\(session)'") == 1)
        let report = try await ledger.store.verifyChains()
        #expect(report.isIntact, "\(report.findings)")

        // The owner deletes a kept event and passes it off as dropped by the cut: the cut's
        // RetentionCut event (chained, sealed) no longer agrees with its tables.
        try await ledger.store.seal()
        try await ledger.sql { s in
            try s.execute(
                unsafeSQL: """
                    ALTER TABLE ledger.events DISABLE TRIGGER events_reject_update_delete;
                    INSERT INTO ledger.retention_dropped_hashes (global_position, seal, hash, cut)
                    SELECT e.global_position, (SELECT max(seal) FROM ledger.seals), e.hash, (SELECT max(cut) FROM ledger.retention_cuts)
                      FROM ledger.events e WHERE e.stream_id = 'session-\(session)';
                    DELETE FROM ledger.events WHERE stream_id = 'session-\(session)';
                    ALTER TABLE ledger.events ENABLE TRIGGER events_reject_update_delete
                    """
            )
        }
        let tampered = try await ledger.store.verifyChains()
        #expect(tampered.findings.contains { "\($0)".contains("the retention cut of 2024-01 has dropped_hashes") }, "\(tampered.findings)")
    }

    @Test("a run stopped after the detach is finished by the next: the month shows as half-way, and goes")
    func resumesAfterDetach() async throws {
        let (ledger, _, _) = try await ledger(oldSessions: 2)
        defer { ledger.close() }
        // What a run does up to the detach, then stops.
        let halfway = """
            SELECT ledger.retention_begin('\(Self.month)', '24 months', 'test');
            SELECT ledger.retention_prune('\(Self.month)', 2000);
            SELECT ledger.retention_anchor('\(Self.month)');
            ALTER TABLE ledger.events DETACH PARTITION ledger.events_2024_01
            """
        // Unsealed events cannot be anchored (nothing has sealed yet: no projector has run): a
        // clear refusal, not a NULL seal.
        let unsealed = try await #require(throws: PostgresError.self) { try await ledger.sql { s in try s.execute(unsafeSQL: halfway) } }
        #expect(unsealed.sqlState == "55000" && unsealed.message.contains("not sealed yet"), "\(unsealed.debugDescription)")
        try await caughtUp(ledger)
        // A seal covers what is below the cluster's read horizon, which another database's open
        // transaction can hold back for a moment: seal until the month is in.
        try await eventually(timeout: .seconds(30), "the month's events sealed") {
            try await ledger.store.seal()
            return try await count(ledger, "SELECT count(*)::int FROM ledger.retention_blockers('\(Self.month)') WHERE reason LIKE 'events not sealed%'") == 0
        }
        try await ledger.sql { s in try s.execute(unsafeSQL: halfway) }
        let status = try await EventStore.retentionStatus(url: ledger.url, months: 24)
        let half = try #require(status.months.first { $0.month == "2024-01" })
        #expect(half.state == "anchored" && half.partition == "events_2024_01", "\(status.months)")
        let steps = try await EventStore.applyRetention(url: ledger.url, months: 24, requestedBy: "test")
        #expect(steps.map(\.month) == ["2024-01"] && steps[0].dropped, "\(steps)")
        #expect(try await count(ledger, "SELECT (to_regclass('ledger.events_2024_01') IS NULL)::int") == 1)
        #expect(try await count(ledger, "SELECT count(*)::int FROM ledger.streams WHERE stream_month = '\(Self.month)'") == 0)
        let report = try await ledger.store.verifyChains()
        #expect(report.isIntact, "\(report.findings)")
    }

    @Test("a month whose last events wait behind an open transaction goes in the same run once it ends: sealed while waiting, not put off a day")
    func sealsWhileWaiting() async throws {
        // A transaction that took its id before the month's events were appended: the store's
        // read horizon (and every seal) stays below them while it is open.
        let holder = try await PostgresConnection.connect(try await TestDatabase.create())
        let (ledger, _, _) = try await ledger(oldSessions: 2) { _ in
            try await holder.run { session in try session.execute(unsafeSQL: "BEGIN; SELECT pg_current_xact_id()") }
            return
        }
        defer { ledger.close() }
        // A projector that takes its time with each batch: released with the seals, it is past
        // the month's events only a while after they are sealed.
        let projector = start(
            Projector(
                projections: TimelineProjection.all, store: ledger.store, configuration: .init(pollInterval: .milliseconds(50)),
                logger: .init(label: "test"), beforeCommit: { _, _ in Thread.sleep(forTimeInterval: 0.4) }
            )
        )
        defer { projector.cancel() }
        let run = Task { try await EventStore.applyRetention(url: ledger.url, months: 24, requestedBy: "test", wait: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(500))
        try await holder.run { try $0.execute(unsafeSQL: "COMMIT") }
        let steps = try await run.value
        #expect(steps.map(\.month) == ["2024-01"] && steps.first?.dropped == true, "\(steps)")
        #expect(try await ledger.store.verifyChains().isIntact)
    }

    @Test("the partitions of this month and the next three are made when missing, and never twice")
    func partitionsAhead() async throws {
        let ledger = try await TestLedger.make()
        defer { ledger.close() }
        #expect(try await ledger.store.ensurePartitions() == 0, "migrate made them")
        let next = try await ledger.sql { s in
            try s.query("SELECT 'events_' || to_char(ledger.month_of(now()) + interval '2 months', 'YYYY_MM')").decode(String.self, row: 0, column: 0)
        }
        try await ledger.sql { s in try s.execute(unsafeSQL: "DROP TABLE ledger.\(next)") }
        #expect(try await ledger.store.partitionsAhead() == 2)
        #expect(try await ledger.store.ensurePartitions() == 1)
        #expect(try await ledger.store.partitionsAhead() == 3)
        #expect(try await ledger.store.oldestEventAt() == nil, "an empty store")
    }
}
