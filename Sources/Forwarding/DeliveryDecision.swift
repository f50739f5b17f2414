import EventStore
import Foundation
import Ledger
import OICP

/// What one forwarding attempt comes to: the delivery event for the session's delivery stream,
/// the delivery row's new state, and what the session does next. Pure (the clock and the
/// randomness of the retry's jitter come in), so it is tested without a database or a network.
enum DeliveryDecision {
    /// What the session does next.
    enum Next {
        case completed(acceptedAt: Date?)
        case retry(attempts: Int, firstAttemptAt: Date, notBefore: Date)
    }

    /// The event and row an attempt's outcome comes to, and what the session does next.
    static func decide(
        _ delivery: Forwarder.Delivery, result: TransportResult, outcome: DeliveryOutcome, now: Date, retry: RetryPolicy,
        random: inout some RandomNumberGenerator
    ) -> (record: DeliveryRecord, next: Next) {
        let notification = delivery.notification
        let attempt = notification.attempts + 1
        let firstAttemptAt = notification.firstAttemptAt ?? now
        var latency: Int64 = 0
        if case .response(_, _, _, let elapsed) = result { latency = elapsed.milliseconds }
        var event = DeliveryEvent(
            type: .notificationForwarded, sessionID: delivery.session, eventID: delivery.eventID.uuidString.lowercased(), position: notification.position,
            notificationType: notification.kind.rawValue, at: DeliveryEvent.stamp(now)
        )
        event.attempt = attempt
        if delivery.withoutIdentification { event.withoutIdentification = true }
        var row = DeliveryRecord.RowUpdate(position: notification.position, state: "", attempts: attempt, firstAttemptAt: firstAttemptAt, finishedAt: now)
        // Hubject's code, when a failed attempt's answer was an acknowledgement.
        if case .response(_, let body, _, _) = result, let ack = try? JSONDecoder().decode(Acknowledgement.self, from: Data(body)) {
            row.statusCode = ack.statusCode.code
        }
        let next: Next
        func deadLetter(_ reason: String) {
            event.type = .notificationDeadLettered
            event.reason = reason
            row.state = "dead"
            row.reason = reason
        }
        switch outcome {
        case .delivered(let ack), .refusedByEMP(let ack):
            let delivered: Bool = if case .delivered = outcome { true } else { false }
            event.outcome = delivered ? "delivered" : "refused_by_emp"
            event.result = ack.result
            event.statusCode = ack.statusCode.code
            event.statusDescription = ack.statusCode.description
            event.latencyMilliseconds = latency
            row.state = delivered ? "delivered" : "refused"
            row.statusCode = ack.statusCode.code
            next = .completed(acceptedAt: delivered ? now : nil)
        case .retryable(let reason, let retryAfter):
            if retry.allowsRetry(attempts: attempt, firstAttempt: firstAttemptAt, now: now) {
                let delay = retry.delay(afterAttempt: attempt, retryAfter: retryAfter, random: &random)
                let nextAt = now.addingTimeInterval(delay.seconds)
                event.type = .forwardingAttemptFailed
                event.reason = reason
                event.nextAttemptAt = DeliveryEvent.stamp(nextAt)
                event.latencyMilliseconds = latency
                row.state = "retrying"
                row.reason = reason
                row.nextAttemptAt = nextAt
                row.finishedAt = nil
                next = .retry(attempts: attempt, firstAttemptAt: firstAttemptAt, notBefore: nextAt)
            } else {
                deadLetter("retry budget spent after \(attempt) attempts: \(reason)")
                next = .completed(acceptedAt: nil)
            }
        case .deadLetter(let reason):
            deadLetter(reason)
            next = .completed(acceptedAt: nil)
        }
        // One id per attempt, so a commit tried again after its connection broke is not recorded
        // twice. The round's first attempt is in it: an operator's retry starts counting afresh.
        let round = Int64((firstAttemptAt.timeIntervalSince1970 * 1_000_000).rounded())
        let recorded = NewEvent(
            id: EventIdentity.nameBased("forwarding\u{1F}\(notification.position)\u{1F}\(round)\u{1F}\(attempt)"), type: event.type.rawValue, data: event.data
        )
        return (DeliveryRecord(append: AppendRequest(stream: event.stream, events: [recorded]), row: row), next)
    }
}
