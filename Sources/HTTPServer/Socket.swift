import CEpoll
import Foundation
import Glibc

/// The few socket calls the server makes, with errors as `ServerError`.
enum Socket {
    /// A non-blocking IPv4 listening socket bound to `host:port`.
    static func listen(host: String, port: Int, backlog: Int32) throws(ServerError) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(fd)
            throw ServerError("\(host) is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ServerError("cannot bind \(host):\(port): \(reason)")
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ServerError("listen: \(reason)")
        }
        return fd
    }

    static func localPort(_ fd: Int32) throws(ServerError) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { throw ServerError("getsockname: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// What `accept` found.
    enum Accepted: Equatable {
        /// A connection, non-blocking, from `address` (IPv4, host byte order).
        case connection(fd: Int32, address: UInt32)
        /// None is pending.
        case wouldBlock
        /// `accept4` failed with this errno (`AcceptBackoff` decides what next).
        case failed(errno: Int32)
    }

    /// Accepts one pending connection, non-blocking, with Nagle off (a response goes out whole
    /// at once rather than waiting for the client's delayed ACK).
    static func accept(_ listener: Int32) -> Accepted {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        var fd: Int32
        repeat {
            fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept4(listener, $0, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else { return errno == EAGAIN || errno == EWOULDBLOCK ? .wouldBlock : .failed(errno: errno) }
        var yes: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
        return .connection(fd: fd, address: UInt32(bigEndian: address.sin_addr.s_addr))
    }
}
