public import Foundation
import HeapModule

/// The open deliveries the active forwarder holds in memory: per session an outbox in store
/// order, and a schedule of sessions by when their head may go. Pure: the caller passes the
/// instants, so the forwarder's pacing is tested under a manual clock.
///
/// Choosing the next delivery costs O(log n) in the sessions waiting, whatever the backlog:
/// sessions held by the Progress window or a retry delay sit in the schedule until their time
/// and never hold up sessions behind them.
///
/// ```swift
/// var backlog = DeliveryBacklog()
/// backlog.add(PendingNotification(position: 7, kind: .start), session: "s1")
/// if case .send(let session, let notification) = backlog.next(now: .now) { … }
/// backlog.completed(session: "s1", position: 7, acceptedAt: nil)
/// ```
public struct DeliveryBacklog: Sendable {
    /// What goes next.
    public enum Decision: Sendable, Equatable {
        /// Send it; the session counts as in flight until `completed` or `retry`.
        case send(session: String, notification: PendingNotification)
        /// Nothing may go now; the earliest session is due at `until` (nil: nothing waits).
        case idle(until: Date?)
    }

    public let progressInterval: TimeInterval
    /// Open deliveries held, in flight or waiting.
    public private(set) var count = 0
    public var inFlightCount: Int { inFlight.count }
    public var sessionCount: Int { sessions.count }

    private var sessions: [String: SessionOutbox] = [:]
    private var inFlight: Set<String> = []
    /// Sessions by when their head may go, then by the head's position (store order among
    /// those due). Entries go stale when a session changes; `next` checks each against the
    /// session and drops the stale ones.
    private var schedule = Heap<Scheduled>()
    /// Progress notifications a newer one replaced, not yet collected by the caller.
    private var supersededPositions: [PendingNotification] = []

    private struct Scheduled: Comparable, Sendable {
        var due: Date
        var position: Int64
        var session: String

        static func < (a: Scheduled, b: Scheduled) -> Bool { (a.due, a.position) < (b.due, b.position) }
    }

    public init(progressInterval: TimeInterval = 300) {
        self.progressInterval = progressInterval
    }

    /// Adds an open delivery. `lastProgressAccepted` is when Hubject last accepted a Progress of
    /// the session, as the database knows it (memory may know a later one).
    public mutating func add(_ notification: PendingNotification, session: String, lastProgressAccepted: Date? = nil) {
        var outbox = sessions[session] ?? SessionOutbox(progressInterval: progressInterval)
        if let lastProgressAccepted { outbox.progressAccepted(at: lastProgressAccepted) }
        let before = outbox.pending.count
        let oldHead = outbox.head?.position
        outbox.append(notification)
        count += outbox.pending.count - before
        sessions[session] = outbox
        if outbox.head?.position != oldHead, !inFlight.contains(session) { schedule(session, outbox) }
    }

    /// Whether the position is held (waiting or in flight).
    public func contains(session: String, position: Int64) -> Bool {
        sessions[session]?.pending.contains { $0.position == position } ?? false
    }

    /// The next delivery that may go at `now`, oldest due first. Marks its session in flight.
    public mutating func next(now: Date) -> Decision {
        while let top = schedule.min {
            guard top.due <= now else { return .idle(until: top.due) }
            _ = schedule.removeMin()
            guard !inFlight.contains(top.session), var outbox = sessions[top.session], outbox.head?.position == top.position else {
                continue  // stale: the session went, or changed and was scheduled again
            }
            let decision = outbox.next(now: now)
            switch decision {
            case .send(let head, let superseded):
                collect(superseded, from: &outbox)
                sessions[top.session] = outbox
                inFlight.insert(top.session)
                return .send(session: top.session, notification: head)
            case .hold(let until, let superseded):
                collect(superseded, from: &outbox)
                sessions[top.session] = outbox
                if let head = outbox.head { schedule.insert(Scheduled(due: until, position: head.position, session: top.session)) }
            case .empty:
                sessions[top.session] = nil
            }
        }
        return .idle(until: nil)
    }

    /// The session's delivery was answered for good (delivered, refused, dead-lettered); for a
    /// delivered Progress, `acceptedAt` starts its 5-minute window.
    public mutating func completed(session: String, position: Int64, acceptedAt: Date?) {
        inFlight.remove(session)
        guard var outbox = sessions[session] else { return }
        let before = outbox.pending.count
        outbox.completed(position, acceptedAt: acceptedAt)
        count -= before - outbox.pending.count
        settle(session, outbox)
    }

    /// The session's delivery failed and goes again at `notBefore`.
    public mutating func retry(session: String, position: Int64, attempts: Int, firstAttemptAt: Date, notBefore: Date) {
        inFlight.remove(session)
        guard var outbox = sessions[session] else { return }
        outbox.retry(position, attempts: attempts, firstAttemptAt: firstAttemptAt, notBefore: notBefore)
        settle(session, outbox)
    }

    /// The session's delivery ended without an answer the forwarder could record (its process
    /// is stopping): it stays at the head, to go again.
    public mutating func released(session: String) {
        inFlight.remove(session)
        if let outbox = sessions[session] { settle(session, outbox) }
    }

    /// Progress notifications replaced by newer ones since the last call: to record as superseded.
    public mutating func takeSuperseded() -> [PendingNotification] {
        defer { supersededPositions.removeAll() }
        return supersededPositions
    }

    private mutating func collect(_ superseded: [PendingNotification], from outbox: inout SessionOutbox) {
        supersededPositions += superseded
        count -= superseded.count
    }

    private mutating func settle(_ session: String, _ outbox: SessionOutbox) {
        if outbox.isEmpty {
            sessions[session] = nil
        } else {
            sessions[session] = outbox
            schedule(session, outbox)
        }
    }

    private mutating func schedule(_ session: String, _ outbox: SessionOutbox) {
        guard let head = outbox.head else { return }
        // A Progress head's window is applied when it comes up (`SessionOutbox.next`).
        schedule.insert(Scheduled(due: head.notBefore, position: head.position, session: session))
    }
}
