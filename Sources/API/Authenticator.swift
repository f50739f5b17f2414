import Crypto
import Foundation
import HTTPServer
import OICP
import Synchronization

/// Checks `Authorization: Bearer` tokens, with a short cache in front of `TokenStore`.
///
/// A verified token is remembered for `ttl` (5 s by default), keyed by the SHA-256 of the token
/// text, so a busy client costs one database lookup per `ttl`, and a revocation takes effect
/// within `ttl` on every instance. Failures cost little too (`FailedAuthentication`): an unknown
/// or revoked token id is refused from memory for a while, and an address that keeps failing
/// gets 429 with `Retry-After` before any lookup.
public final class Authenticator: Sendable {
    private struct Entry {
        var token: APIToken
        var expires: ContinuousClock.Instant
    }

    /// A token's SHA-256 as four words: the cache never holds a token's text, and hashing these
    /// costs less than a hex string per request.
    private struct CacheKey: Hashable {
        let words: SIMD4<UInt64>

        init(_ digest: SHA256.Digest) {
            words = digest.withUnsafeBytes { $0.loadUnaligned(as: SIMD4<UInt64>.self) }
        }
    }

    private let tokens: TokenStore
    private let ttl: Duration
    private let maxEntries: Int
    private let cache = Mutex<[CacheKey: Entry]>([:])
    private let failures: Mutex<FailedAuthentication>

    init(tokens: TokenStore, ttl: Duration = .seconds(5), maxEntries: Int = 10_000, failureLimits: FailedAuthentication.Limits = .init()) {
        self.tokens = tokens
        self.ttl = ttl
        self.maxEntries = maxEntries
        self.failures = Mutex(FailedAuthentication(limits: failureLimits))
    }

    public convenience init(tokens: TokenStore, ttl: Duration = .seconds(5), maxEntries: Int = 10_000) {
        self.init(tokens: tokens, ttl: ttl, maxEntries: maxEntries, failureLimits: .init())
    }

    /// The token a request presents, if it is live and has `scope`.
    /// - Throws: `APIProblem` 401 (missing, malformed, unknown, revoked), 403 (scope), 429 (this
    ///   address failed too often lately), 503 (the database did not answer).
    func authenticate(_ request: HTTPRequest, scope: TokenScope) async throws(APIProblem) -> APIToken {
        let token = try await authenticate(request)
        guard token.scopes.contains(scope) else { throw .missingScope(scope) }
        return token
    }

    func authenticate(_ request: HTTPRequest) async throws(APIProblem) -> APIToken {
        let now = ContinuousClock.now
        let address = request.clientAddress
        if let wait = failures.withLock({ $0.wait(for: address, now: now) }) { throw .tooManyFailures(retryAfter: wait) }
        do throws(APIProblem) {
            let token = try await verify(request.head.headers, now: now)
            RequestRecord.current?.token = token.name
            return token
        } catch let problem where problem.status == 401 {
            failures.withLock { $0.recordFailure(address: address, now: now) }
            throw problem
        }
    }

    private func verify(_ headers: HTTPHeaders, now: ContinuousClock.Instant) async throws(APIProblem) -> APIToken {
        let values = headers.values("authorization")
        guard values.count == 1, let value = values.first else { throw values.isEmpty ? .missingToken : .badToken }
        // RFC 6750 §2.1: the scheme is case-insensitive, then one space, then the token.
        guard value.count > 7, value.prefix(7).lowercased() == "bearer " else { throw .badToken }
        let presented = String(value.dropFirst(7))
        guard presented.utf8.count <= 128, let tokenID = TokenStore.tokenID(of: presented) else { throw .badToken }
        let key = CacheKey(SHA256.hash(data: Data(presented.utf8)))
        if let entry = cache.withLock({ $0[key] }), entry.expires > now { return entry.token }
        if failures.withLock({ $0.isKnownUnknown(tokenID, now: now) }) { throw .badToken }
        let verification: TokenStore.Verification
        do {
            verification = try await tokens.check(presented)
        } catch {
            throw .unavailable("the token could not be checked: the database did not answer")
        }
        guard case .valid(let token) = verification else {
            cache.withLock { _ = $0.removeValue(forKey: key) }
            if case .unknownID(let id) = verification { failures.withLock { $0.recordFailure(address: nil, unknownTokenID: id, now: now) } }
            throw .badToken
        }
        cache.withLock { cache in
            if cache.count >= maxEntries { cache.removeAll(keepingCapacity: true) }
            cache[key] = Entry(token: token, expires: now + ttl)
        }
        return token
    }
}

/// What an operator-limited token may write and read. Operators are compared as OICP compares
/// them (`DE*A36` = `DEA36` = `de*a36`), and an EVSE belongs to the operator its EvseID begins
/// with: a limited token writes and reads only notifications whose OperatorID *and* EVSE
/// operator are both among its operators. A hub partner sends its own OperatorID for its sub
/// partners' EVSEs (REFERENCE §3.3), so its token lists the sub partners too. A token without
/// limits sees everything.
extension APIToken {
    private var operators: OperatorIdentity.Set? { operatorIDs.map(OperatorIdentity.Set.init) }

    /// Whether the token may see data of the operator `operatorID` (as an `operator` filter).
    func sees(operator operatorID: String) -> Bool {
        operators?.contains(operatorID: operatorID) ?? true
    }

    /// Whether the token may see the EVSE `evseID`: its EvseID's operator is the token's.
    func sees(evse evseID: String) -> Bool {
        operators?.contains(evseOf: evseID) ?? true
    }

    /// Whether the token may see a record of `operatorID` at `evseID` (a session, a delivery).
    func sees(operator operatorID: String, evse evseID: String) -> Bool {
        sees(operator: operatorID) && sees(evse: evseID)
    }

    /// What in `notification` this token may not send: its OperatorID, or its EvseID's operator,
    /// not among the token's operators. Empty when it may.
    func writeProblems(_ notification: ChargingNotification) -> [ValidationProblem] {
        guard let operators, let listed = operatorIDs?.joined(separator: ", ") else { return [] }
        var problems: [ValidationProblem] = []
        if !operators.contains(operatorID: notification.operatorID) {
            problems.append(
                ValidationProblem(pointer: "/OperatorID", message: "OperatorID \(notification.operatorID): this token may send for \(listed) only")
            )
        }
        if !operators.contains(evseOf: notification.evseID) {
            problems.append(
                ValidationProblem(
                    pointer: "/EvseID",
                    message: "EvseID \(notification.evseID) belongs to another operator: this token may send for EVSEs of \(listed) only"
                ))
        }
        return problems
    }
}
