import Glibc
import Testing

@testable import HTTPServer

/// Bytes waiting in `fd`, read out (0 when none).
private func drain(_ fd: Int32) -> Int {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&entry, 1, 0) == 1 else { return 0 }
    var buffer = [UInt8](repeating: 0, count: 64)
    return max(0, read(fd, &buffer, buffer.count))
}

@Suite("The event loop's executor")
struct LoopExecutorTests {
    @Test("a job wakes the loop only when it waits in epoll, once; a busy loop is not woken, and does not wait with a job queued")
    func wakesOnlyAWaitingLoop() async throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let executor = LoopExecutor(wake: ends[1], readiness: SocketReadiness(epoll: -1))  // closes the write end
        defer { executor.close() }

        // Busy (between epoll_waits): queued, no write.
        executor.stopWaiting()
        Task(executorPreference: executor) {}
        #expect(drain(ends[0]) == 0)
        #expect(!executor.prepareToWait(), "a job is queued: the loop must not block")
        #expect(executor.runPending())

        // Waiting: the first job writes the eventfd's 8 bytes, the next finds the loop woken.
        #expect(executor.prepareToWait())
        Task(executorPreference: executor) {}
        Task(executorPreference: executor) {}
        #expect(drain(ends[0]) == 8)
        #expect(executor.runPending())
    }
}
