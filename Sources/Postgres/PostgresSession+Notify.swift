internal import CLibPQ
import Glibc

/// One `NOTIFY` as received.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    /// The notifying backend's process id.
    public var pid: Int32
}

extension PostgresSession {
    /// `LISTEN` on a channel. The name is quoted as an identifier, so any text is safe.
    public func listen(_ channel: String) throws(PostgresError) {
        let quoted = "\"" + channel.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        try execute(unsafeSQL: "LISTEN \(quoted)")
    }

    /// Waits up to `timeout` for notifications and returns those that arrived (maybe none).
    ///
    /// Blocks in `poll(2)` on the connection's socket, then `PQconsumeInput` and `PQnotifies`
    /// (libpq manual §34.9). Call only from a dedicated thread.
    /// - Throws: `.connectionLost` when the socket reports an error or the server went away.
    public func waitForNotifications(timeout: Duration) throws(PostgresError) -> [PostgresNotification] {
        var received = drainNotifications()
        if !received.isEmpty { return received }
        let socket = PQsocket(conn)
        guard socket >= 0 else { throw PostgresError(code: .connectionLost, message: "the connection has no socket") }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let ready = poll(&descriptor, 1, milliseconds)
        if ready < 0 {
            if errno == EINTR { return [] }
            throw PostgresError(code: .connectionLost, message: "poll failed: \(String(cString: strerror(errno)))")
        }
        if ready == 0 { return [] }
        guard PQconsumeInput(conn) == 1 else {
            throw PostgresError(code: .connectionLost, message: String(cString: PQerrorMessage(conn)))
        }
        received = drainNotifications()
        return received
    }

    private func drainNotifications() -> [PostgresNotification] {
        var received: [PostgresNotification] = []
        while let raw = PQnotifies(conn) {
            let notify = raw.pointee
            received.append(
                PostgresNotification(
                    channel: String(cString: notify.relname), payload: String(cString: notify.extra), pid: notify.be_pid
                )
            )
            PQfreemem(raw)
        }
        return received
    }
}
