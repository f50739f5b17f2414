import Synchronization

/// A bounded first-in-first-out queue between one producer and one consumer task.
///
/// `push` waits while `capacity` items are queued, so a fast reader cannot pull a whole archive
/// into memory ahead of the database; `pop` waits while the queue is empty and returns nil once
/// the queue is finished and drained.
final class BatchQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var finished = false
        var closed = false
        var consumer: CheckedContinuation<Element?, Never>?
        var producer: CheckedContinuation<Void, Never>?
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Queues `element`, waiting while the queue is full.
    /// - Returns: false when the consumer has `close`d the queue; nothing was queued then.
    @discardableResult
    func push(_ element: Element) async -> Bool {
        while true {
            if state.withLock({ $0.closed }) { return false }
            let handed = state.withLock { state -> CheckedContinuation<Element?, Never>?? in
                if let consumer = state.consumer {
                    state.consumer = nil
                    return .some(consumer)
                }
                if state.items.count < capacity {
                    state.items.append(element)
                    return .some(nil)
                }
                return .none
            }
            switch handed {
            case .some(.some(let consumer)):
                consumer.resume(returning: element)
                return true
            case .some(.none):
                return true
            case .none:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let roomNow = state.withLock { state -> Bool in
                        if state.closed || state.items.count < capacity || state.consumer != nil { return true }
                        state.producer = continuation
                        return false
                    }
                    if roomNow { continuation.resume() }
                }
            }
        }
    }

    private enum Next {
        case item(Element, CheckedContinuation<Void, Never>?)
        case end
        case wait
    }

    func pop() async -> Element? {
        let next = state.withLock { state -> Next in
            if !state.items.isEmpty {
                let producer = state.producer
                state.producer = nil
                return .item(state.items.removeFirst(), producer)
            }
            return state.finished ? .end : .wait
        }
        switch next {
        case .item(let element, let producer):
            producer?.resume()
            return element
        case .end:
            return nil
        case .wait:
            return await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Next in
                    if !state.items.isEmpty {
                        let producer = state.producer
                        state.producer = nil
                        return .item(state.items.removeFirst(), producer)
                    }
                    if state.finished { return .end }
                    state.consumer = continuation
                    return .wait
                }
                switch now {
                case .item(let element, let producer):
                    producer?.resume()
                    continuation.resume(returning: element)
                case .end:
                    continuation.resume(returning: nil)
                case .wait:
                    break
                }
            }
        }
    }

    /// The consumer gives up (it failed): a waiting and every later `push` returns false, so the
    /// producer stops instead of waiting for room that will never come.
    func close() {
        let producer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            state.items.removeAll()
            defer { state.producer = nil }
            return state.producer
        }
        producer?.resume()
    }

    /// No more pushes; the consumer gets nil once the queue is drained.
    func finish() {
        let consumer = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            state.finished = true
            defer { state.consumer = nil }
            return state.items.isEmpty ? state.consumer : nil
        }
        consumer?.resume(returning: nil)
    }
}
