import Dispatch
import Foundation
public import Logging
import Synchronization

/// A bounded pool of `PostgresConnection`s.
///
/// Connections open lazily up to `maxConnections`; a caller beyond that waits (first come,
/// first served) up to `acquireTimeout`. A connection that a call found broken is closed on
/// release instead of being reused, and a waiting caller gets a fresh one, so a restarted
/// server or a terminated backend costs the callers that were using it one typed,
/// retryable error (`PostgresError.Code.connectionLost`) and nothing else.
///
/// When opening a connection fails, the callers waiting at that moment fail with the same
/// error at once: the database just refused (or never answered) a connection, and otherwise
/// they would sit out the whole `acquireTimeout` waiting for a release that, with every
/// connection broken, never comes.
///
/// ```swift
/// let pool = PostgresPool(configuration: .init(url: "postgres://ledger@127.0.0.1:5433/ledger"))
/// let head = try await pool.run { session in
///     try session.query("SELECT max(id) FROM app.items").decode(Int64?.self, row: 0, column: 0)
/// }
/// ```
public final class PostgresPool: Sendable {
    /// Pool settings.
    ///
    /// | key | type | default |
    /// | --- | --- | --- |
    /// | `url` | `postgres://` URL or libpq conninfo | — |
    /// | `maxConnections` | `Int` | 8 |
    /// | `acquireTimeout` | `Duration` | 30 s |
    /// | `applicationName` | `String` | `error-ledger` |
    /// | `settings` | `SessionSettings` (statement timeout, network timeout) | `SessionSettings()` |
    public struct Configuration: Sendable {
        public var url: String
        public var maxConnections: Int
        public var acquireTimeout: Duration
        public var applicationName: String
        public var settings: SessionSettings

        public init(
            url: String, maxConnections: Int = 8, acquireTimeout: Duration = .seconds(30), applicationName: String = "error-ledger",
            settings: SessionSettings = SessionSettings()
        ) {
            precondition(maxConnections > 0, "a pool needs at least one connection")
            self.url = url
            self.maxConnections = maxConnections
            self.acquireTimeout = acquireTimeout
            self.applicationName = applicationName
            self.settings = settings
        }
    }

    /// How busy the pool is, for `/metrics` and `/readyz`.
    public struct Statistics: Sendable, Equatable {
        public var open: Int
        public var idle: Int
        public var waiting: Int
    }

    public let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<PostgresConnection, any Error>
    }

    private struct State {
        var idle: [PostgresConnection] = []
        var open = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    public init(configuration: Configuration, logger: Logger = Logger(label: "postgres.pool")) {
        self.configuration = configuration
        self.logger = logger
    }

    public var statistics: Statistics {
        state.withLock { Statistics(open: $0.open, idle: $0.idle.count, waiting: $0.waiters.count) }
    }

    /// Lends a connection to `body` and takes it back afterwards, whatever happens.
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await body(connection)
            release(connection)
            return value
        } catch {
            release(connection)
            throw error
        }
    }

    /// Runs `body` on a pooled connection's own thread. See `PostgresConnection.run`.
    @discardableResult
    public func run<T: Sendable>(_ body: @escaping @Sendable (PostgresSession) throws -> T) async throws -> T {
        try await withConnection { try await $0.run(body) }
    }

    /// Runs one statement on a pooled connection.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresResult {
        try await run { try $0.query(query) }
    }

    /// Closes idle connections and fails every waiter; connections in use close on release.
    public func close() {
        let waiters = state.withLock { state -> [Waiter] in
            state.closed = true
            state.open -= state.idle.count
            state.idle.removeAll()
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: PostgresError(code: .poolClosed, message: "the pool was closed"))
        }
    }

    // MARK: - Acquire and release

    private enum Decision {
        case use(PostgresConnection)
        case connect
        case wait
        case fail(PostgresError)
    }

    func acquire() async throws -> PostgresConnection {
        try Task.checkCancellation()
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresConnection, any Error>) in
                let decision = state.withLock { state -> Decision in
                    if state.closed { return .fail(PostgresError(code: .poolClosed, message: "the pool was closed")) }
                    if let connection = state.idle.popLast() { return .use(connection) }
                    if state.open < configuration.maxConnections {
                        state.open += 1
                        return .connect
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return .wait
                }
                switch decision {
                case .use(let connection):
                    continuation.resume(returning: connection)
                case .connect:
                    openConnection(for: continuation)
                case .fail(let error):
                    continuation.resume(throwing: error)
                case .wait:
                    let timeout = configuration.acquireTimeout
                    let nanos = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
                    DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanos))) { [self] in
                        removeWaiter(id)?.resume(
                            throwing: PostgresError(
                                code: .poolTimeout,
                                message: "no database connection became free within \(timeout) (pool size \(configuration.maxConnections))"
                            )
                        )
                    }
                }
            }
        } onCancel: {
            removeWaiter(id)?.resume(throwing: CancellationError())
        }
    }

    private func removeWaiter(_ id: UInt64) -> CheckedContinuation<PostgresConnection, any Error>? {
        state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index).continuation
        }
    }

    /// Opens a connection for a caller whose slot is already counted in `open`.
    private func openConnection(for continuation: CheckedContinuation<PostgresConnection, any Error>) {
        let configuration = configuration
        let logger = logger
        Task {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration.url, applicationName: configuration.applicationName, settings: configuration.settings, logger: logger
                )
                continuation.resume(returning: connection)
            } catch {
                let waiting = state.withLock { state -> [Waiter] in
                    state.open -= 1
                    defer { state.waiters.removeAll() }
                    return state.waiters
                }
                logger.warning("database connection failed", metadata: LogMetadata.error(error, ["waiting_failed": "\(waiting.count)"]))
                continuation.resume(throwing: error)
                for waiter in waiting { waiter.continuation.resume(throwing: error) }
            }
        }
    }

    func release(_ connection: PostgresConnection) {
        enum Next {
            case handTo(CheckedContinuation<PostgresConnection, any Error>)
            case replaceFor(CheckedContinuation<PostgresConnection, any Error>)
            case done
        }
        let broken = connection.isBroken
        let next = state.withLock { state -> Next in
            if broken || state.closed {
                state.open -= 1
                guard !state.closed, !state.waiters.isEmpty else { return .done }
                state.open += 1
                return .replaceFor(state.waiters.removeFirst().continuation)
            }
            if !state.waiters.isEmpty { return .handTo(state.waiters.removeFirst().continuation) }
            state.idle.append(connection)
            return .done
        }
        if broken { logger.info("discarding a broken database connection") }
        switch next {
        case .handTo(let continuation): continuation.resume(returning: connection)
        case .replaceFor(let continuation): openConnection(for: continuation)
        case .done: break
        }
    }
}
