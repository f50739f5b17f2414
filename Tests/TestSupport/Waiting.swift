import Foundation
import Glibc
import HTTPServer

/// `eventually` gave up.
/// A test's own failure, with what went wrong.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public struct TimedOut: Error, CustomStringConvertible {
    public var description: String
}

/// Waits until `condition` holds, polling every 20 ms.
/// - Throws: `TimedOut` naming `what` after `timeout`.
public func eventually(timeout: Duration = .seconds(15), _ what: String, _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TimedOut(description: "timed out waiting for: \(what)")
}

/// A blocking TCP socket connected to 127.0.0.1:`port`, with `receiveTimeout` seconds on each
/// receive. Call it from a thread of your own, not from the cooperative pool.
/// - Returns: the socket, or nil with `errno` set when the connection failed.
public func connectLoopback(port: Int, receiveTimeout: Int = 5, ipv6: Bool = false) -> Int32? {
    let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    // The server's own address builder, so the test client and the listener agree on families.
    let result = Socket.withAddress(host: ipv6 ? "::1" : "127.0.0.1", port: port) { connect(fd, $0, $1) } ?? -1
    guard result == 0 else {
        let saved = errno
        close(fd)
        errno = saved
        return nil
    }
    return fd
}
