package import CEpoll
import Foundation
package import Glibc

/// The few socket calls the server makes, with errors as `ServerError`.
package enum Socket {
    /// A non-blocking listening socket bound to `host:port`: an IPv4 address (`0.0.0.0` for all
    /// IPv4 interfaces) or an IPv6 one (`::` for all interfaces, IPv4 too: dual-stack, IPv4
    /// clients appearing as `::ffff:a.b.c.d` to the socket and as `a.b.c.d` to the server).
    ///
    /// With `reusePort`, `SO_REUSEPORT` is set: several sockets (one per event loop) listen on
    /// the same address, and the kernel spreads new connections across them.
    static func listen(host: String, port: Int, backlog: Int32, reusePort: Bool = false) throws(ServerError) -> Int32 {
        let ipv6 = host.contains(":")
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        if reusePort, setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ServerError("SO_REUSEPORT, which several event loops need, is not available (\(reason)): run one loop (LEDGER_HTTP_EVENT_LOOPS=1)")
        }
        if ipv6 {
            // Dual-stack whatever the system default (net.ipv6.bindv6only): `::` takes IPv4 too.
            var no: Int32 = 0
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &no, socklen_t(MemoryLayout<Int32>.size))
        }
        guard let bound = withAddress(host: host, port: port, { bind(fd, $0, $1) }) else {
            close(fd)
            throw ServerError("\(host) is not an IPv4 or IPv6 address")
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ServerError("cannot bind \(ipv6 ? "[\(host)]" : host):\(port): \(reason)")
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ServerError("listen: \(reason)")
        }
        return fd
    }

    /// Fails as binding would when another socket listens on `host:port`: a group of
    /// `SO_REUSEPORT` listeners would otherwise join another process's group on that port (an
    /// instance still running, a second one started by mistake) and share its connections.
    static func ensureFree(host: String, port: Int) throws(ServerError) {
        let ipv6 = host.contains(":")
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        if ipv6 {
            var no: Int32 = 0
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &no, socklen_t(MemoryLayout<Int32>.size))
        }
        guard let bound = withAddress(host: host, port: port, { bind(fd, $0, $1) }) else {
            throw ServerError("\(host) is not an IPv4 or IPv6 address")
        }
        guard bound == 0 else {
            throw ServerError("cannot bind \(ipv6 ? "[\(host)]" : host):\(port): \(String(cString: strerror(errno)))")
        }
    }

    /// Calls `body` with `host:port` as a socket address: IPv6 when `host` holds a colon, else
    /// IPv4. Nil when `host` is not a numeric address of that family.
    package static func withAddress<T>(host: String, port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T? {
        if host.contains(":") {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { return nil }
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    static func localPort(_ fd: Int32) throws(ServerError) -> Int {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { throw ServerError("getsockname: \(String(cString: strerror(errno)))") }
        return withUnsafePointer(to: &address) { storage in
            if Int32(storage.pointee.ss_family) == AF_INET6 {
                return storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    /// What `accept` found.
    enum Accepted: Equatable {
        /// A connection, non-blocking, from `address` (`a.b.c.d`, or the IPv6 text form).
        case connection(fd: Int32, address: String)
        /// None is pending.
        case wouldBlock
        /// `accept4` failed with this errno (`AcceptBackoff` decides what next).
        case failed(errno: Int32)
    }

    /// Accepts one pending connection, non-blocking, with Nagle off (a response goes out whole
    /// at once rather than waiting for the client's delayed ACK).
    static func accept(_ listener: Int32) -> Accepted {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
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
        return .connection(fd: fd, address: text(of: &address))
    }

    /// The address's text form; an IPv4 client of a dual-stack socket (`::ffff:a.b.c.d`) as `a.b.c.d`.
    static func text(of address: inout sockaddr_storage) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = Int32(address.ss_family)
        let written: UnsafePointer<CChar>? = withUnsafePointer(to: &address) { storage in
            if family == AF_INET6 {
                return storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { six in
                    var bytes = six.pointee.sin6_addr
                    return inet_ntop(AF_INET6, &bytes, &buffer, socklen_t(buffer.count))
                }
            }
            return storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { four in
                var bytes = four.pointee.sin_addr
                return inet_ntop(AF_INET, &bytes, &buffer, socklen_t(buffer.count))
            }
        }
        guard written != nil else { return "unknown" }
        let text = String(cString: buffer)
        return text.hasPrefix("::ffff:") && text.contains(".") ? String(text.dropFirst(7)) : text
    }
}
