public import Foundation
public import Logging

/// Applies numbered, forward-only SQL migrations from a directory.
///
/// Files are named `NNNN-what-it-does.sql` (`0001-create-events.sql`). Each missing one is
/// applied in a transaction of its own and recorded in `<schema>.schema_migrations` with the
/// SHA-256 of its text. Before applying anything the migrator compares every recorded migration
/// with its file and refuses to run when one was changed or removed: a migration, once applied,
/// is history. Running it again when nothing is missing changes nothing.
///
/// Two migrators on the same database serialize on a session advisory lock, so a second
/// instance waits and then finds nothing left to do.
public struct Migrator: Sendable {
    public struct Migration: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var sql: String

        public init(version: Int, name: String, sql: String) {
            self.version = version
            self.name = name
            self.sql = sql
        }
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// `pg_advisory_lock` key: "ledgermi" as ASCII, so it cannot collide with small numbers.
    static let lockKey: Int64 = 0x6C65_6467_6572_6D69

    public let schema: String
    public let migrations: [Migration]
    private let logger: Logger

    /// Reads every `NNNN-*.sql` file in `directory`.
    /// - Throws: `Failure` when two files share a number or a name does not match the pattern.
    public init(directory: URL, schema: String = "ledger", logger: Logger = Logger(label: "migrate")) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }
        var migrations: [Migration] = []
        for name in names {
            guard let dash = name.firstIndex(of: "-"), let version = Int(name[..<dash]), version > 0 else {
                throw Failure(description: "migration file \(name) does not start with a positive number and a dash (0001-create-events.sql)")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(name.dropLast(4)), sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (a, b) in zip(migrations, migrations.dropFirst()) where a.version == b.version {
            throw Failure(description: "migrations \(a.name) and \(b.name) share the number \(a.version)")
        }
        try self.init(migrations: migrations, schema: schema, logger: logger)
    }

    public init(migrations: [Migration], schema: String = "ledger", logger: Logger = Logger(label: "migrate")) throws {
        guard schema.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "_") }) else {
            throw Failure(description: "schema name \(schema) must be ASCII letters and underscores")
        }
        self.migrations = migrations
        self.schema = schema
        self.logger = logger
    }

    /// Applies what is missing and returns the names of the migrations it applied.
    public func migrate(on connection: PostgresConnection) async throws -> [String] {
        try await connection.run { session in try self.migrate(session) }
    }

    func migrate(_ session: PostgresSession) throws -> [String] {
        try session.query("SELECT pg_advisory_lock(\(Self.lockKey))")
        defer { _ = try? session.query("SELECT pg_advisory_unlock(\(Self.lockKey))") }

        try session.execute(
            unsafeSQL: """
                CREATE SCHEMA IF NOT EXISTS \(schema);
                CREATE TABLE IF NOT EXISTS \(schema).schema_migrations (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                );
                """
        )
        let applied = try session.query("SELECT version, name, checksum FROM \(unsafeRaw: schema).schema_migrations ORDER BY version")
        var recorded: [Int: (name: String, checksum: String)] = [:]
        for row in applied.rows {
            recorded[try row.decode(Int.self, column: 0)] = (try row.decode(String.self, column: 1), try row.decode(String.self, column: 2))
        }

        let byVersion = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for (version, record) in recorded.sorted(by: { $0.key < $1.key }) {
            guard let migration = byVersion[version] else {
                throw Failure(description: "migration \(record.name) is applied in the database but its file is missing: this build is older than the database")
            }
            let checksum = try Self.checksum(migration.sql, session)
            guard checksum == record.checksum else {
                throw Failure(
                    description: "migration \(migration.name) was changed after it was applied (checksum \(checksum.prefix(12)) ≠ recorded \(record.checksum.prefix(12))); add a new migration instead of editing an applied one"
                )
            }
        }

        var newlyApplied: [String] = []
        for migration in migrations where recorded[migration.version] == nil {
            let checksum = try Self.checksum(migration.sql, session)
            try session.transaction {
                try session.execute(unsafeSQL: migration.sql)
                try session.query(
                    "INSERT INTO \(unsafeRaw: schema).schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(checksum))"
                )
            }
            logger.info("applied migration", metadata: ["migration": "\(migration.name)"])
            newlyApplied.append(migration.name)
        }
        return newlyApplied
    }

    /// SHA-256 of the file's text, computed by the server so this module needs no crypto library.
    static func checksum(_ sql: String, _ session: PostgresSession) throws -> String {
        try session.query("SELECT encode(sha256(convert_to(\(sql), 'UTF8')), 'hex')").decode(String.self, row: 0, column: 0)
    }
}
