import Synchronization

/// At most `width` holders at a time; the others wait their turn, first come first served.
///
/// The live feeds read through it, so however many subscribers there are they hold at most
/// `width` of the pool's connections and the request endpoints keep the rest.
final class AsyncGate: Sendable {
    private struct State {
        var free: Int
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(width: Int) {
        precondition(width > 0)
        state = Mutex(State(free: width))
    }

    /// Runs `body` once a place is free, and frees it afterwards, however `body` ends.
    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await enter()
        defer { leave() }
        return try await body()
    }

    private func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let entered = state.withLock { state -> Bool in
                if state.free > 0 {
                    state.free -= 1
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if entered { continuation.resume() }
        }
    }

    private func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty {
                state.free += 1
                return nil
            }
            return state.waiting.removeFirst()  // the place passes on
        }
        next?.resume()
    }
}
