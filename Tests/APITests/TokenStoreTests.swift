import API
import Foundation
import Postgres
import Testing
import TestSupport

@Suite("API tokens against PostgreSQL")
struct TokenStoreTests {
    private func store() async throws -> (TokenStore, PostgresPool) {
        let pool = PostgresPool(configuration: .init(url: try await TestDatabase.create(), maxConnections: 2))
        return (TokenStore(pool: pool), pool)
    }

    @Test("a created token verifies with its scopes and operators; only the hash of its secret is stored")
    func createAndVerify() async throws {
        let (tokens, pool) = try await store()
        defer { pool.close() }
        let (created, text) = try await tokens.create(name: "dashboard", scopes: [.read, .ingest], operatorIDs: ["DE*A36"])
        #expect(text.hasPrefix("led_"))
        let expectedLength = 101  // "led_" + 32 hex + "_" + 64 hex
        #expect(text.count == expectedLength)
        let verified = try #require(try await tokens.verify(text))
        #expect(verified == created)
        #expect(verified.scopes == [.read, .ingest])
        #expect(verified.operatorIDs == ["DE*A36"])
        let secret = String(text.split(separator: "_")[2])
        let stored = try await pool.query("SELECT encode(secret_hash, 'hex') || name || token_id::text FROM ledger.api_tokens")
        let row: String = try stored.decode(String.self, row: 0, column: 0)
        #expect(!row.contains(secret), "the secret is not stored")
        let all = try await tokens.create(name: "ops", scopes: [.admin])
        #expect(try await tokens.verify(all.1)?.operatorIDs == nil, "no operator list: every operator")
    }

    @Test("a wrong, malformed or revoked token verifies as nothing")
    func refusals() async throws {
        let (tokens, pool) = try await store()
        defer { pool.close() }
        let (_, text) = try await tokens.create(name: "cpo", scopes: [.ingest])
        var wrong = Array(text)
        wrong[wrong.count - 1] = wrong[wrong.count - 1] == "0" ? "1" : "0"
        #expect(try await tokens.verify(String(wrong)) == nil)
        let malformedTokens: [String] = ["", "led_", "Bearer " + text, text + "0", text.uppercased(), "xyz_" + String(text.dropFirst(4))]
        for malformed in malformedTokens {
            #expect(try await tokens.verify(malformed) == nil, "\(malformed)")
        }
        #expect(try await tokens.revoke(name: "cpo"))
        #expect(try await tokens.verify(text) == nil)
        #expect(try await tokens.revoke(name: "cpo") == false, "nothing left to revoke")
        let again = try await tokens.create(name: "cpo", scopes: [.ingest])
        #expect(try await tokens.verify(again.1) != nil, "a revoked name can be issued again")
        #expect(try await tokens.list().map(\.name) == ["cpo", "cpo"])
    }

    @Test("the database refuses a second live token of one name, an unknown scope, and a bad name")
    func constraints() async throws {
        let (tokens, pool) = try await store()
        defer { pool.close() }
        _ = try await tokens.create(name: "one", scopes: [.read])
        await #expect(throws: PostgresError.self) { _ = try await tokens.create(name: "one", scopes: [.read]) }
        await #expect(throws: PostgresError.self) { _ = try await tokens.create(name: "no spaces", scopes: [.read]) }
        await #expect(throws: PostgresError.self) { _ = try await tokens.create(name: "none", scopes: []) }
        await #expect(throws: PostgresError.self) {
            try await pool.query("INSERT INTO ledger.api_tokens (token_id, name, secret_hash, scopes) VALUES (gen_random_uuid(), 'x', decode(repeat('00', 32), 'hex'), '{root}')")
        }
    }
}
