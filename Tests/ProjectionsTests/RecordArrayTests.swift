import Foundation
import Postgres
@testable import Projections
import Testing
import TestSupport

/// The projector's rows as an array of a table's row type (`RecordArray`), read back by
/// PostgreSQL's own input functions.
@Suite("Rows as an array of a table's row type")
struct RecordArrayTests {
    @Test("every value comes back as written: quotes, backslashes, commas, parentheses, braces, newlines, empty text, NULL, non-ASCII, JSON")
    func roundTrip() async throws {
        let url = try await TestDatabase.create()
        let connection = try await PostgresConnection.connect(url)
        let texts: [String?] = [
            #"quote " backslash \ both \" end\"#, "a,b", "(x)", "{y}", "line\nnext\ttab", "", nil, " padded ", "Zürich ⚡ 東京", "NULL", #"\\"#,
        ]
        var records = RecordArray(columns: 5)
        for (index, text) in texts.enumerated() {
            records.integer(index == 0 ? Int64.min : Int64(index))
            records.text(text)
            records.uuid(UUID(uuidString: "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9")!)
            records.json(text == nil ? nil : #"{"k": "v \"w\" \\", "n": [1, 2]}"#)
            records.flag(index % 2 == 0)
            records.endRow()
        }
        let literal = records.literal
        let rows = try await connection.run { session in
            try session.execute(unsafeSQL: "CREATE TEMPORARY TABLE t (i bigint, s text, u uuid, j jsonb, b boolean)")
            return try session.prepared("SELECT i, s, u::text, j->>'k', b FROM unnest(\(literal)::t[]) WITH ORDINALITY AS r(i, s, u, j, b, o) ORDER BY o").rows.map { row in
                (
                    try row.decode(Int64.self, column: 0), try row.decode(String?.self, column: 1), try row.decode(String.self, column: 2),
                    try row.decode(String?.self, column: 3), try row.decode(Bool.self, column: 4)
                )
            }
        }
        #expect(rows.count == texts.count)
        for (index, row) in rows.enumerated() {
            #expect(row.0 == (index == 0 ? Int64.min : Int64(index)))
            #expect(row.1 == texts[index], "row \(index): \(String(describing: row.1))")
            #expect(row.2 == "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9")
            #expect(row.3 == (texts[index] == nil ? nil : #"v "w" \"#), "row \(index)")
            #expect(row.4 == (index % 2 == 0))
        }
        #expect(RecordArray(columns: 3).literal == "{}")
    }

    @Test("the column lists the projector writes are each table's columns, all of them, in the table's order")
    func columnsAreTheTables() async throws {
        let url = try await TestDatabase.create()
        let connection = try await PostgresConnection.connect(url)
        let tables: [(String, [String])] = [
            ("projection_sessions.sessions", TimelineRows.sessionColumns),
            ("projection_evse_errors.sessions", TimelineRows.sessionColumns),
            ("projection_sessions.session_events", TimelineRows.sessionEventColumns),
            ("projection_evse_errors.evse_errors", TimelineRows.errorColumns),
            ("projection_evse_errors.evse_summary", TimelineRows.evseColumns),
        ]
        for (table, columns) in tables {
            let stored = try await connection.run { session in
                try session.prepared(
                    """
                    SELECT attname::text FROM pg_attribute
                     WHERE attrelid = \(table)::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum
                    """
                ).rows.map { try $0.decode(String.self, column: 0) }
            }
            #expect(stored == columns, "\(table)")
        }
    }
}
