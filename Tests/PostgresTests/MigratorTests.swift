import Foundation
import Postgres
import Testing
import TestSupport

@Suite("Migrator", .serialized)
struct MigratorTests {
    let migrations = [
        Migrator.Migration(version: 1, name: "0001-create-a", sql: "CREATE TABLE migtest.a (k int);"),
        Migrator.Migration(version: 2, name: "0002-create-b", sql: "CREATE TABLE migtest.b (k int); INSERT INTO migtest.b VALUES (1);"),
    ]

    @Test("applies missing migrations once; a second run is a no-op")
    func idempotent() async throws {
        let connection = try await PostgresConnection.connect(try await TestDatabase.create(migrated: false))
        let migrator = try Migrator(migrations: migrations, schema: "migtest")
        #expect(try await migrator.migrate(on: connection) == ["0001-create-a", "0002-create-b"])
        #expect(try await migrator.migrate(on: connection) == [])
        let rows = try await connection.run { try $0.query("SELECT count(*) FROM migtest.b").decode(Int.self, row: 0, column: 0) }
        #expect(rows == 1)
    }

    @Test("refuses to run when an applied migration was changed")
    func changedFileRefused() async throws {
        let connection = try await PostgresConnection.connect(try await TestDatabase.create(migrated: false))
        _ = try await Migrator(migrations: migrations, schema: "migtest").migrate(on: connection)
        var edited = migrations
        edited[0].sql += " -- edited"
        edited.append(.init(version: 3, name: "0003-create-c", sql: "CREATE TABLE migtest.c (k int);"))
        let error = try await #require(throws: Migrator.Failure.self) {
            try await Migrator(migrations: edited, schema: "migtest").migrate(on: connection)
        }
        #expect(error.description.contains("0001-create-a was changed"))
        let hasC = try await connection.run { try $0.query("SELECT to_regclass('migtest.c') IS NOT NULL").decode(Bool.self, row: 0, column: 0) }
        #expect(!hasC, "nothing after the refusal was applied")
    }

    @Test("a failing migration rolls back alone and stops the run")
    func failingMigrationRollsBack() async throws {
        let connection = try await PostgresConnection.connect(try await TestDatabase.create(migrated: false))
        let broken = migrations + [.init(version: 3, name: "0003-broken", sql: "CREATE TABLE migtest.c (k int); SELECT 1/0;")]
        await #expect(throws: PostgresError.self) {
            _ = try await Migrator(migrations: broken, schema: "migtest").migrate(on: connection)
        }
        let state = try await connection.run { session in
            (
                try session.query("SELECT count(*) FROM migtest.schema_migrations").decode(Int.self, row: 0, column: 0),
                try session.query("SELECT to_regclass('migtest.c') IS NOT NULL").decode(Bool.self, row: 0, column: 0)
            )
        }
        #expect(state.0 == 2)
        #expect(!state.1)
    }

    @Test("two migrators at once: each migration is applied exactly once")
    func concurrentMigrators() async throws {
        let url = try await TestDatabase.create(migrated: false)
        // A slow first migration keeps the first migrator inside the lock while the second arrives.
        let slow = [Migrator.Migration(version: 1, name: "0001-slow", sql: "SELECT pg_sleep(0.5); CREATE TABLE migtest.a (k int);")] + migrations.dropFirst()
        let a = try await PostgresConnection.connect(url)
        let b = try await PostgresConnection.connect(url)
        async let first = Migrator(migrations: slow, schema: "migtest").migrate(on: a)
        async let second = Migrator(migrations: slow, schema: "migtest").migrate(on: b)
        let applied = try await first + second
        #expect(applied.sorted() == ["0001-slow", "0002-create-b"])
    }

    @Test("the project's db/ migrations load in order with unique numbers")
    func projectMigrations() throws {
        let migrator = try Migrator(directory: repositoryRoot().appendingPathComponent("db"))
        #expect(migrator.migrations.map(\.version) == Array(1...migrator.migrations.count))
    }
}
