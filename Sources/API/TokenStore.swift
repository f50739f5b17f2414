public import Foundation
import Crypto
public import Postgres

/// What a token may do.
public enum TokenScope: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Post notifications.
    case ingest
    /// Read sessions, timelines, summaries, feeds.
    case read
    /// Operations: dead letters, retries, token management through the API.
    case admin

    public static func < (a: TokenScope, b: TokenScope) -> Bool { a.rawValue < b.rawValue }
}

/// A bearer token as stored: never its secret.
public struct APIToken: Sendable, Hashable {
    public var id: UUID
    public var name: String
    public var scopes: Set<TokenScope>
    /// The OperatorIDs whose data the token sees; nil for every operator.
    public var operatorIDs: [String]?
    public var createdAt: Date
    public var revokedAt: Date?
}

/// Issues, checks and revokes the REST API's bearer tokens (`ledger.api_tokens`, db/0009).
///
/// A token reads `led_<id: 32 hex>_<secret: 64 hex>`: 256 random bits of secret from the
/// system's CSPRNG. Only SHA-256 of the secret is stored, so a copy of the database grants
/// nothing; the token itself is shown once, when it is created.
public struct TokenStore: Sendable {
    private let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Creates a token.
    /// - Returns: the stored token and the token text to hand to its user (shown only now).
    /// - Throws: `PostgresError` (a unique violation when a live token has the name already; a
    ///   check violation for a bad name or scope set).
    public func create(name: String, scopes: Set<TokenScope>, operatorIDs: [String]? = nil) async throws -> (APIToken, String) {
        var generator = SystemRandomNumberGenerator()
        let id = UUID()
        let secret = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let hash = Self.hex(Array(SHA256.hash(data: secret)))
        let scopeNames = scopes.sorted().map(\.rawValue)
        let query: PostgresQuery = """
            INSERT INTO ledger.api_tokens (token_id, name, secret_hash, scopes, operator_ids)
            VALUES (\(id), \(name), decode(\(hash), 'hex'), \(scopeNames), \(operatorIDs))
            RETURNING created_at
            """
        let created = try await pool.run { try $0.query(query).decode(Date.self, row: 0, column: 0) }
        let token = APIToken(id: id, name: name, scopes: scopes, operatorIDs: operatorIDs, createdAt: created, revokedAt: nil)
        return (token, "led_" + Self.hex(id) + "_" + Self.hex(secret))
    }

    /// What checking a presented token found.
    public enum Verification: Sendable, Equatable {
        case valid(APIToken)
        /// Not `led_<32 hex>_<64 hex>`.
        case malformed
        /// No live token has this id (none ever had, or it was revoked).
        case unknownID(String)
        /// The id is live; the secret is not its secret.
        case wrongSecret
    }

    /// The live token `presented` is, or nil: malformed, unknown, wrong secret or revoked.
    public func verify(_ presented: String) async throws -> APIToken? {
        if case .valid(let token) = try await check(presented) { return token }
        return nil
    }

    /// Checks a presented token, saying why it is refused.
    public func check(_ presented: String) async throws -> Verification {
        let parts = presented.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "led", let idBytes = Self.bytes(hex: parts[1]), idBytes.count == 16,
            let secret = Self.bytes(hex: parts[2]), secret.count == 32
        else { return .malformed }
        let id = UUID(uuid: (idBytes[0], idBytes[1], idBytes[2], idBytes[3], idBytes[4], idBytes[5], idBytes[6], idBytes[7],
                             idBytes[8], idBytes[9], idBytes[10], idBytes[11], idBytes[12], idBytes[13], idBytes[14], idBytes[15]))
        let query: PostgresQuery = """
            SELECT encode(secret_hash, 'hex'), \(unsafeRaw: Self.columns) FROM ledger.api_tokens
             WHERE token_id = \(id) AND revoked_at IS NULL
            """
        let found = try await pool.run { session -> (String, APIToken)? in
            guard let row = try session.prepared(query).rows.first else { return nil }
            return (try row.decode(String.self, column: 0), try Self.token(row, from: 1))
        }
        guard let (stored, token) = found, let storedHash = Self.bytes(hex: Substring(stored)) else { return .unknownID(String(parts[1])) }
        // Constant time in the secret: compare every byte of the digests.
        let digest = Array(SHA256.hash(data: secret))
        guard digest.count == storedHash.count, zip(digest, storedHash).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return .wrongSecret }
        return .valid(token)
    }

    /// The id part of a token's text (`led_<id>_…`), if it has that shape.
    static func tokenID(of presented: String) -> String? {
        // By bytes, not Characters: this runs for every authenticated request.
        let bytes = presented.utf8
        let parts = bytes.split(separator: UInt8(ascii: "_"), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].elementsEqual("led".utf8), parts[1].count == 32 else { return nil }
        return String(Substring(parts[1]))
    }

    /// Revokes the live token named `name`. - Returns: false when there is none.
    @discardableResult
    public func revoke(name: String) async throws -> Bool {
        let query: PostgresQuery = "UPDATE ledger.api_tokens SET revoked_at = now() WHERE name = \(name) AND revoked_at IS NULL"
        return try await pool.run { try $0.query(query).affectedRows } == 1
    }

    /// Every token, live and revoked, oldest first.
    public func list() async throws -> [APIToken] {
        let query: PostgresQuery = "SELECT \(unsafeRaw: Self.columns) FROM ledger.api_tokens ORDER BY created_at, name"
        return try await pool.run { session in try session.query(query).rows.map { try Self.token($0, from: 0) } }
    }

    /// Arrays as comma-joined text: neither scopes nor OperatorIDs (`DE*A36`) contain commas.
    private static let columns =
        "token_id, name, array_to_string(scopes, ','), array_to_string(operator_ids, ','), created_at, revoked_at"

    private static func token(_ row: PostgresResult.Row, from start: Int) throws -> APIToken {
        APIToken(
            id: try row.decode(column: start), name: try row.decode(column: start + 1),
            scopes: Set(try row.decode(String.self, column: start + 2).split(separator: ",").compactMap { TokenScope(rawValue: String($0)) }),
            operatorIDs: try row.decode(String?.self, column: start + 3).map { $0.split(separator: ",").map(String.init) },
            createdAt: try row.decode(column: start + 4),
            revokedAt: try row.decode(Date?.self, column: start + 5)
        )
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { Hex.encode(bytes) }

    static func hex(_ id: UUID) -> String {
        withUnsafeBytes(of: id.uuid) { hex($0) }
    }

    static func bytes(hex: Substring) -> [UInt8]? { Hex.decode(hex) }
}
