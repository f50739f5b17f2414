/// What failed authentications cost, as a pure value over the instants its caller passes in.
///
/// - A token id found unknown or revoked is remembered for `unknownTokenTTL`: the same token
///   again is refused without a database query, so a client retrying a dead token in a loop
///   costs a dictionary lookup. (Only unknown ids: a wrong secret for a live id is not cached
///   by id, or anyone who saw a token id could lock its owner out.)
/// - An address with more than `failuresPerWindow` refusals (401) in `window` is answered 429
///   with `Retry-After` until the window ends, before any token is looked at.
///
/// Both tables are bounded by `maxTracked`; when one is full it starts over (an attacker who
/// fills it only resets its own counts along with everyone else's).
///
/// | key | type | default |
/// | --- | --- | --- |
/// | `unknownTokenTTL` | how long an unknown or revoked token id is refused from memory | 10 s |
/// | `failuresPerWindow` | refusals an address may cause per window | 20 |
/// | `window` | the window | 60 s |
/// | `maxTracked` | token ids and addresses remembered at most | 10,000 |
struct FailedAuthentication: Sendable {
    struct Limits: Sendable {
        var unknownTokenTTL: Duration = .seconds(10)
        var failuresPerWindow = 20
        var window: Duration = .seconds(60)
        var maxTracked = 10_000
    }

    typealias Instant = ContinuousClock.Instant

    let limits: Limits
    private var unknownIDs: [String: Instant] = [:]
    private var addresses: [String: (start: Instant, failures: Int)] = [:]

    init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// How long `address` must wait before it may try again; nil when it may now.
    func wait(for address: String?, now: Instant) -> Duration? {
        guard let address, let entry = addresses[address], entry.failures >= limits.failuresPerWindow else { return nil }
        let end = entry.start + limits.window
        return end > now ? end - now : nil
    }

    /// Whether `tokenID` was found unknown or revoked lately.
    func isKnownUnknown(_ tokenID: String, now: Instant) -> Bool {
        unknownIDs[tokenID].map { $0 > now } ?? false
    }

    /// Counts a refusal against `address`, and remembers `unknownTokenID` if the token's id was
    /// not found (or was revoked).
    mutating func recordFailure(address: String?, unknownTokenID: String? = nil, now: Instant) {
        if let unknownTokenID {
            if unknownIDs.count >= limits.maxTracked { unknownIDs.removeAll(keepingCapacity: true) }
            unknownIDs[unknownTokenID] = now + limits.unknownTokenTTL
        }
        guard let address else { return }
        if var entry = addresses[address], now < entry.start + limits.window {
            entry.failures += 1
            addresses[address] = entry
        } else {
            if addresses.count >= limits.maxTracked { addresses.removeAll(keepingCapacity: true) }
            addresses[address] = (now, 1)
        }
    }
}
