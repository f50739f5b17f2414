import Crypto
import Foundation
import HTTPServer
import Synchronization

/// Checks `Authorization: Bearer` tokens, with a short cache in front of `TokenStore`.
///
/// A verified token is remembered for `ttl` (5 s by default), keyed by the SHA-256 of the token
/// text, so a busy client costs one database lookup per `ttl`, and a revocation takes effect
/// within `ttl` on every instance. Failed lookups are not cached: an unknown token costs a
/// query each time (tokens are 256-bit random, so guessing is hopeless; put a rate limit in
/// front if unknown tokens arrive in floods).
public final class Authenticator: Sendable {
    private struct Entry {
        var token: APIToken
        var expires: ContinuousClock.Instant
    }

    private let tokens: TokenStore
    private let ttl: Duration
    private let maxEntries: Int
    private let cache = Mutex<[String: Entry]>([:])

    public init(tokens: TokenStore, ttl: Duration = .seconds(5), maxEntries: Int = 10_000) {
        self.tokens = tokens
        self.ttl = ttl
        self.maxEntries = maxEntries
    }

    /// The token a request presents, if it is live and has `scope`.
    /// - Throws: `APIProblem` 401 (missing, malformed, unknown, revoked), 403 (scope), 503 (the
    ///   database did not answer).
    func authenticate(_ headers: HTTPHeaders, scope: TokenScope) async throws(APIProblem) -> APIToken {
        let token = try await authenticate(headers)
        guard token.scopes.contains(scope) else { throw .missingScope(scope) }
        return token
    }

    func authenticate(_ headers: HTTPHeaders) async throws(APIProblem) -> APIToken {
        let values = headers.values("authorization")
        guard values.count == 1, let value = values.first else { throw values.isEmpty ? .missingToken : .badToken }
        // RFC 6750 §2.1: the scheme is case-insensitive, then one space, then the token.
        guard value.count > 7, value.prefix(7).lowercased() == "bearer " else { throw .badToken }
        let presented = String(value.dropFirst(7))
        guard presented.utf8.count <= 128 else { throw .badToken }
        let key = TokenStore.hex(SHA256.hash(data: Array(presented.utf8)))
        let now = ContinuousClock.now
        if let entry = cache.withLock({ $0[key] }), entry.expires > now { return entry.token }
        let verified: APIToken?
        do {
            verified = try await tokens.verify(presented)
        } catch {
            throw .unavailable("the token could not be checked: the database did not answer")
        }
        guard let token = verified else {
            cache.withLock { _ = $0.removeValue(forKey: key) }
            throw .badToken
        }
        cache.withLock { cache in
            if cache.count >= maxEntries { cache.removeAll(keepingCapacity: true) }
            cache[key] = Entry(token: token, expires: now + ttl)
        }
        return token
    }
}

extension APIToken {
    /// Whether the token may see `operatorID`'s data.
    func sees(_ operatorID: String) -> Bool {
        operatorIDs.map { $0.contains(operatorID) } ?? true
    }
}
