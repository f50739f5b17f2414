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
///
/// After the loop has ended (`close()`), jobs still arriving (a handler's task resumed late, a
/// stream's timer) run on the global concurrent executor instead: no task is left waiting on a
/// thread that is gone, and nothing is written to the closed eventfd, whose number the process
/// may by then have given to another socket.
final class LoopExecutor: TaskExecutor {
    private struct State {
        var jobs: [UnownedJob] = []
        var wake: Int32
        var closed = false
        /// The loop is in (or about to enter) `epoll_wait` with no job queued: the next enqueue
        /// must wake it. Otherwise the loop runs the queue before it waits again, and a wake-up
        /// would only cost a write, a read and one more turn of the loop.
        var waiting = false
    }

    private let state: Mutex<State>
    /// The loop thread, set when it starts.
    private let loopThread = Mutex<pthread_t?>(nil)
    /// The sockets its handlers wait on (`SocketReadiness.current` in their tasks).
    let readiness: SocketReadiness

    init(wake: Int32, readiness: SocketReadiness) {
        state = Mutex(State(wake: wake))
        self.readiness = readiness
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.jobs.append(unowned)
            // Written under the lock, so `close()` cannot close the eventfd in between.
            if state.waiting {
                state.waiting = false
                var one: UInt64 = 1
                _ = write(state.wake, &one, 8)
            }
            return true
        }
        if !accepted { globalConcurrentExecutor.enqueue(ExecutorJob(unowned)) }
    }

    /// Called by the loop thread as it ends: closes the eventfd and hands every job not yet run,
    /// and every later one, to the global concurrent executor.
    func close() {
        let left = state.withLock { state -> [UnownedJob] in
            state.closed = true
            Glibc.close(state.wake)
            state.wake = -1
            defer { state.jobs = [] }
            return state.jobs
        }
        for job in left { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
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
        let batch = state.withLock { state in
            defer { state.jobs.removeAll(keepingCapacity: true) }
            return state.jobs
        }
        for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        return !batch.isEmpty
    }

    var hasPending: Bool { state.withLock { !$0.jobs.isEmpty } }

    /// Called by the loop before `epoll_wait`: false when jobs are queued (it must not block);
    /// otherwise the next enqueue writes the eventfd. Checked and set under the enqueue's lock,
    /// so no job can slip in between unannounced.
    func prepareToWait() -> Bool {
        state.withLock { state in
            state.waiting = state.jobs.isEmpty
            return state.waiting
        }
    }

    /// Called by the loop when `epoll_wait` returns: enqueues need no wake-up until it waits again.
    func stopWaiting() { state.withLock { $0.waiting = false } }
}
