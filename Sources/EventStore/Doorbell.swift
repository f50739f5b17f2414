import Synchronization

/// Wakes one waiting task (a projector, the forwarder): a NOTIFY or a finished delivery rings
/// it, a timeout rings it, cancellation rings it.
///
/// A ring with nobody waiting is remembered, so the next wait returns at once: a notification
/// that arrives while the projector is busy is never lost. Spurious wakes are harmless (the
/// projector reads and finds nothing).
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    public func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns when rung, after `timeout`, or when the task is cancelled. One waiter at a time.
    public func wait(timeout: Duration) async {
        if state.withLock({ state in defer { state.rung = false }; return state.rung }) { return }
        let timer = Task { [self] in
            try? await Task.sleep(for: timeout)
            ring()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            ring()
        }
        timer.cancel()
    }
}
