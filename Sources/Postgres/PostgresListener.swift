import Foundation
public import Logging
import Synchronization

/// Listens on PostgreSQL channels from a dedicated thread and delivers what it hears as an
/// `AsyncStream`.
///
/// A notification can be lost while the connection is down, so after every reconnect the
/// stream yields `.reconnected`: subscribers then read from their checkpoint as if notified,
/// and poll on a timer as well (the event store's subscribers do both).
public final class PostgresListener: Sendable {
    public enum Event: Sendable, Equatable {
        case notification(PostgresNotification)
        /// The listening connection was (re)established; notifications may have been missed.
        case reconnected
    }

    private let url: String
    private let channels: [String]
    private let logger: Logger
    private let settings: SessionSettings
    private let stopped = Mutex(false)
    private let continuation: AsyncStream<Event>.Continuation
    /// The events heard, in order. One consumer.
    public let events: AsyncStream<Event>

    /// - Parameter settings: the connection's network timeout (a cut link is noticed within it).
    public init(url: String, channels: [String], settings: SessionSettings = SessionSettings(), logger: Logger = Logger(label: "postgres.listener")) {
        self.url = url
        self.channels = channels
        self.settings = settings
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    /// Starts the listening thread. Call once.
    public func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "postgres.listener"
        thread.start()
    }

    /// Stops the thread within one poll interval and finishes the stream.
    public func stop() {
        stopped.withLock { $0 = true }
    }

    private var isStopped: Bool { stopped.withLock { $0 } }

    private func loop() {
        var backoff = 0.1
        while !isStopped {
            do {
                let connection = try PostgresConnection.connectBlocking(url, applicationName: "error-ledger-listener", settings: settings, logger: logger)
                try connection.runBlocking { session in
                    for channel in channels { try session.listen(channel) }
                }
                continuation.yield(.reconnected)
                backoff = 0.1
                while !isStopped {
                    let heard = try connection.runBlocking { try $0.waitForNotifications(timeout: .milliseconds(200)) }
                    for notification in heard { continuation.yield(.notification(notification)) }
                }
            } catch {
                logger.warning("listener connection failed; reconnecting", metadata: LogMetadata.error(error, ["retry_in_s": "\(backoff)"]))
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 5)
            }
        }
        continuation.finish()
    }
}
