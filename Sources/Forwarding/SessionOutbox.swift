public import Foundation

/// A notification waiting to be forwarded, in its session's order.
public struct PendingNotification: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case start = "Start", progress = "Progress", end = "End", error = "Error"
    }

    /// The event's global position: its identity, and the order within the session.
    public var position: Int64
    public var kind: Kind
    /// Attempts made so far (after a restart: as the delivery row has them).
    public var attempts: Int
    public var firstAttemptAt: Date?
    /// Not before this instant (a retry's delay); `.distantPast` when it may go at once.
    public var notBefore: Date

    public init(position: Int64, kind: Kind, attempts: Int = 0, firstAttemptAt: Date? = nil, notBefore: Date = .distantPast) {
        self.position = position
        self.kind = kind
        self.attempts = attempts
        self.firstAttemptAt = firstAttemptAt
        self.notBefore = notBefore
    }
}

/// What a session's outbox lets go next.
public enum OutboxDecision: Sendable, Equatable {
    /// Send this one; `superseded` are older Progress notifications it replaces (recorded, not sent).
    case send(PendingNotification, superseded: [PendingNotification])
    /// The head may not go before `until`: a retry's delay, or a Progress inside the 5-minute
    /// window of the last Progress Hubject accepted.
    case hold(until: Date, superseded: [PendingNotification])
    case empty
}

/// One session's notifications not yet forwarded, in store order, sent one at a time.
///
/// Hubject rejects a Progress sent less than `progressInterval` (5 minutes) after the previous one
/// of the session. A Progress inside that window is held; while held, a newer Progress that
/// follows it directly replaces it (only the newest is sent). A Start, End or Error never jumps a
/// held Progress, and the last Progress before them is never skipped: order is kept.
public struct SessionOutbox: Sendable {
    public private(set) var pending: [PendingNotification] = []
    /// When Hubject last accepted a Progress of this session.
    public private(set) var lastProgressAccepted: Date?
    public let progressInterval: TimeInterval

    public init(progressInterval: TimeInterval = 300, lastProgressAccepted: Date? = nil) {
        self.progressInterval = progressInterval
        self.lastProgressAccepted = lastProgressAccepted
    }

    /// Hubject accepted a Progress of this session at `instant` (known from before this outbox).
    public mutating func progressAccepted(at instant: Date) {
        if lastProgressAccepted.map({ $0 < instant }) ?? true { lastProgressAccepted = instant }
    }

    /// Adds a notification in store order (one taken up again by an operator may be older than
    /// those waiting). A position already here is ignored.
    public mutating func append(_ notification: PendingNotification) {
        guard !pending.contains(where: { $0.position == notification.position }) else { return }
        let index = pending.lastIndex { $0.position < notification.position }.map { $0 + 1 } ?? 0
        pending.insert(notification, at: index)
    }

    public var isEmpty: Bool { pending.isEmpty }
    public var head: PendingNotification? { pending.first }

    /// What may go now. Superseded Progress notifications are removed from the outbox and
    /// returned, so the caller records them.
    public mutating func next(now: Date) -> OutboxDecision {
        guard let first = pending.first else { return .empty }
        var superseded: [PendingNotification] = []
        var due = first.notBefore
        if first.kind == .progress {
            // Progress directly followed by Progress: only the newest of the run matters.
            while pending.count > 1, pending[0].kind == .progress, pending[1].kind == .progress {
                superseded.append(pending.removeFirst())
            }
            due = pending[0].notBefore
            if let last = lastProgressAccepted { due = max(due, last.addingTimeInterval(progressInterval)) }
        }
        return now < due ? .hold(until: due, superseded: superseded) : .send(pending[0], superseded: superseded)
    }

    /// The notification sent was answered for good (delivered, refused or dead-lettered): the
    /// next may go. `acceptedAt` is when Hubject accepted it, for a delivered Progress. Found by
    /// position: an older one may have been added ahead of it while it was in flight.
    public mutating func completed(_ position: Int64, acceptedAt: Date?) {
        guard let index = pending.firstIndex(where: { $0.position == position }) else { return }
        let done = pending.remove(at: index)
        if done.kind == .progress, let acceptedAt { progressAccepted(at: acceptedAt) }
    }

    /// The notification's attempt failed and it goes again at `notBefore`.
    public mutating func retry(_ position: Int64, attempts: Int, firstAttemptAt: Date, notBefore: Date) {
        guard let index = pending.firstIndex(where: { $0.position == position }) else { return }
        pending[index].attempts = attempts
        pending[index].firstAttemptAt = firstAttemptAt
        pending[index].notBefore = notBefore
    }
}
