public import Foundation
import Postgres

/// A database of its own for a test suite, cloned from the migrated template that
/// `./deploy/test` prepares.
///
/// Without `LEDGER_TEST_ADMIN_URL` the tests fail; they never skip, so a run without a
/// database can never look green.
public enum TestDatabase {
    public struct Missing: Error, CustomStringConvertible {
        public var description: String {
            "LEDGER_TEST_ADMIN_URL / LEDGER_TEST_TEMPLATE are not set: run the tests through ./deploy/test, which starts PostgreSQL"
        }
    }

    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The admin URL (the `postgres` database of the test cluster).
    public static func adminURL() throws -> String {
        guard let url = environment["LEDGER_TEST_ADMIN_URL"], !url.isEmpty else { throw Missing() }
        return url
    }

    /// Creates `test_<random>` from the migrated template and returns its URL.
    public static func create(migrated: Bool = true) async throws -> String {
        let admin = try adminURL()
        guard let template = environment["LEDGER_TEST_TEMPLATE"], !template.isEmpty else { throw Missing() }
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let connection = try await PostgresConnection.connect(admin)
        try await connection.run { session in
            // Identifiers cannot be parameters; both names are made here, from [a-z0-9_].
            try session.execute(unsafeSQL: "CREATE DATABASE \(name)" + (migrated ? " TEMPLATE \(template)" : ""))
        }
        return url(forDatabase: name, admin: admin)
    }

    /// The admin URL with its database name replaced.
    public static func url(forDatabase name: String, admin: String) -> String {
        guard let slash = admin.range(of: "/", options: .backwards) else { return admin }
        return admin[..<slash.upperBound] + name
    }
}

/// The repository's root, found from this file's path.
public func repositoryRoot(_ file: String = #filePath) -> URL {
    var url = URL(fileURLWithPath: file)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    fatalError("no Package.swift above \(file)")
}
