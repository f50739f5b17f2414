/// A value read at most once per `maxAge`, however many ask: callers within `maxAge` of the
/// last read get its result (a failure too), and callers that come while a read runs share it.
///
/// `/metrics` and `/readyz` read their figures through it, so a scraper or a probe storm costs
/// the database one query per second, not one per request.
actor RecentValue<Value: Sendable> {
    typealias Instant = ContinuousClock.Instant

    private let maxAge: Duration
    private let now: @Sendable () -> Instant
    private let read: @Sendable () async throws -> Value
    private var last: (result: Result<Value, any Error>, at: Instant)?
    private var running: Task<Result<Value, any Error>, Never>?

    init(maxAge: Duration = .seconds(1), now: @escaping @Sendable () -> Instant = { .now }, read: @escaping @Sendable () async throws -> Value) {
        self.maxAge = maxAge
        self.now = now
        self.read = read
    }

    func get() async throws -> Value {
        if let last, now() - last.at < maxAge { return try last.result.get() }
        if let running { return try await running.value.get() }
        let read = read
        let task = Task { () -> Result<Value, any Error> in
            do { return .success(try await read()) } catch { return .failure(error) }
        }
        running = task
        let result = await task.value
        last = (result, now())
        running = nil
        return try result.get()
    }
}
