import Synchronization

/// Wakes the tasks that follow the store (a subscription runner, the forwarder, live feeds) when
/// something they wait for may have happened: a NOTIFY, a finished delivery, a shutdown.
///
/// Every ring moves a generation counter on. A waiter reads `generation` *before* it looks for
/// work and passes that value to `wait(after:timeout:)`, which returns at once if a ring came in
/// between: a ring while the waiter was busy is never lost. One ring wakes every waiter.
/// Spurious wakes are harmless (the waiter looks and finds nothing).
///
/// ```swift
/// let seen = signal.generation
/// if try await readNext() == 0 { await signal.wait(after: seen, timeout: .seconds(1)) }
/// ```
public final class WakeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waits whose timeout or cancellation came before they were stored: they return at once.
        var expired: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Moves on with every ring.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Tasks waiting now.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    public func ring() {
        let waiters = state.withLock { state in
            state.generation &+= 1
            defer { state.waiters = [:] }
            return state.waiters
        }
        for waiter in waiters.values { waiter.resume() }
    }

    /// Returns once the generation has moved past `seen`, after `timeout`, or on cancellation.
    public func wait(after seen: UInt64, timeout: Duration) async {
        let id = state.withLock { state in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
        let timer = Task { [self] in
            // Only a timeout that ran out wakes: a cancelled timer (the wait ended) does nothing.
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            wake(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    // The timeout or the cancellation may have come first, finding nothing to wake.
                    if state.expired.remove(id) != nil || state.generation != seen { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            wake(id)
        }
        timer.cancel()
        // The timer may have fired after a ring took the continuation: forget its mark.
        await timer.value
        state.withLock { _ = $0.expired.remove(id) }
    }

    private func wake(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiters.removeValue(forKey: id) else {
                state.expired.insert(id)
                return nil
            }
            return waiter
        }
        waiter?.resume()
    }
}
