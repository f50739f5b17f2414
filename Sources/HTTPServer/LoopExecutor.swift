import Foundation
import Glibc
import Synchronization

/// Runs handler tasks on the event loop's own thread (SE-0417 task executor preference), so a
/// request that needs no other thread is parsed, handled and answered without a single thread
/// hand-off: the hand-offs (a wake-up of a pool thread, then of the loop) cost more than the work
/// of a small request. A handler that awaits work elsewhere (the database's own threads) hops
/// there and back as usual.
///
/// Handlers must not block or compute for long: they run between the loop's socket events.
final class LoopExecutor: TaskExecutor {
    private let jobs = Mutex<[UnownedJob]>([])
    private let wake: Int32
    /// The loop thread, set when it starts; enqueues from it need no wake-up.
    private let loopThread = Mutex<pthread_t?>(nil)

    init(wake: Int32) {
        self.wake = wake
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let wasEmpty = jobs.withLock { queue in
            defer { queue.append(unowned) }
            return queue.isEmpty
        }
        if wasEmpty, !isLoopThread {
            var one: UInt64 = 1
            _ = write(wake, &one, 8)
        }
    }

    /// Called by the loop thread once, before it runs anything.
    func bindToCurrentThread() { loopThread.withLock { $0 = pthread_self() } }

    var isLoopThread: Bool {
        guard let thread = loopThread.withLock({ $0 }) else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    /// Runs the jobs enqueued so far (jobs they enqueue wait for the next call).
    /// - Returns: whether any ran.
    @discardableResult
    func runPending() -> Bool {
        let batch = jobs.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
        for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        return !batch.isEmpty
    }

    var hasPending: Bool { jobs.withLock { !$0.isEmpty } }
}
