import Foundation
import Glibc
import Postgres
import Testing
import TestSupport

@Suite("Postgres pool", .serialized)
struct PostgresPoolTests {
    @Test("the pool never opens more than its bound, and every caller is served")
    func bounded() async throws {
        let pool = PostgresPool(configuration: .init(url: try await TestDatabase.create(migrated: false), maxConnections: 3))
        defer { pool.close() }
        let peak = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    try await pool.query("SELECT pg_sleep(0.05)")
                    return pool.statistics.open
                }
            }
            var peak = 0
            for try await open in group { peak = max(peak, open) }
            return peak
        }
        #expect(peak <= 3)
        #expect(pool.statistics.open <= 3)
        #expect(pool.statistics.waiting == 0)
    }

    @Test("a caller that cannot get a connection in time gets a typed, retryable timeout")
    func acquireTimeout() async throws {
        let pool = PostgresPool(configuration: .init(url: try await TestDatabase.create(migrated: false), maxConnections: 1, acquireTimeout: .milliseconds(200)))
        defer { pool.close() }
        async let holder: Void = { _ = try await pool.query("SELECT pg_sleep(1)") }()
        // The holder has the one connection (open, not idle) before the next caller asks: a fixed
        // wait can end before a busy machine has even started the holder's connect.
        try await eventually("the holder has the connection") { pool.statistics.open == 1 && pool.statistics.idle == 0 }
        let error = try await #require(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error.code == .poolTimeout)
        #expect(error.isRetryable)
        try await holder
    }

    @Test("a query on a dead connection is a typed retryable error, and the pool replaces the connection")
    func deadConnectionIsReplaced() async throws {
        let url = try await TestDatabase.create(migrated: false)
        let pool = PostgresPool(configuration: .init(url: url, maxConnections: 1))
        defer { pool.close() }
        let pid = try await pool.run { $0.backendPID }
        let killer = try await PostgresConnection.connect(url)
        // Waits until the backend has ended (up to 10 s), not a fixed moment a busy server may overrun.
        #expect(try await killer.run { try $0.query("SELECT pg_terminate_backend(\(Int(pid)), 10000)").decode(Bool.self, row: 0, column: 0) })

        let error = try await #require(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error.code == .connectionLost)
        #expect(error.isRetryable)
        #expect(pool.statistics.open == 0, "the broken connection was discarded")

        let newPID = try await pool.run { $0.backendPID }
        #expect(newPID != pid)
        let one = try await pool.run { try $0.query("SELECT 1").decode(Int.self, row: 0, column: 0) }
        #expect(one == 1)
    }

    @Test("when a connection cannot be opened, the callers waiting for one fail with it at once, not at the acquire timeout")
    func waitersFailWithTheConnect() async throws {
        // A server that completes the TCP handshake (the kernel does, from the listen backlog)
        // and never says a word: each connect ends at its connect_timeout of 2 s.
        let listener = try #require(SilentListener())
        defer { listener.close() }
        let pool = PostgresPool(
            configuration: .init(url: "postgres://nobody@127.0.0.1:\(listener.port)/none?connect_timeout=2", maxConnections: 1, acquireTimeout: .seconds(30))
        )
        defer { pool.close() }
        let clock = ContinuousClock()
        let started = clock.now
        let outcomes = await withTaskGroup(of: (PostgresError.Code?, Duration).self) { group in
            for _ in 0..<3 {
                group.addTask {
                    do {
                        try await pool.query("SELECT 1")
                        return (nil, clock.now - started)
                    } catch {
                        return ((error as? PostgresError)?.code, clock.now - started)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.map(\.0) == [.connectionFailed, .connectionFailed, .connectionFailed], "\(outcomes)")
        #expect(outcomes.allSatisfy { $0.1 < .seconds(6) }, "nobody waited out the 30 s acquire timeout: \(outcomes)")
        #expect(pool.statistics.open == 0 && pool.statistics.waiting == 0)
    }

    @Test("a bad URL fails with connectionFailed, not a crash")
    func badURL() async throws {
        let pool = PostgresPool(configuration: .init(url: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", maxConnections: 1))
        let error = try await #require(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error.code == .connectionFailed)
        #expect(pool.statistics.open == 0)
    }
}

/// A TCP port on 127.0.0.1 that is listened on and never accepted from: connections complete in
/// the kernel and then hear nothing, as a server that hangs after the handshake.
final class SilentListener: Sendable {
    let port: Int
    private let fd: Int32

    init?() {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, listen(fd, 16) == 0, named == 0 else {
            Glibc.close(fd)
            return nil
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { Glibc.close(fd) }
}
