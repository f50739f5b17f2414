import EventStore
@testable import Forwarding
import Foundation
import Ledger
import Testing

/// The outcome decision, pure: no database, no network, a fixed clock and a fixed jitter.
@Suite("Delivery decision (pure)")
struct DeliveryDecisionTests {
    let now = Date(timeIntervalSince1970: 1_795_000_000)

    struct FixedRandom: RandomNumberGenerator {
        mutating func next() -> UInt64 { 0x8000_0000_0000_0000 }
    }

    func delivery(attempts: Int = 0, firstAttemptAt: Date? = nil) -> Forwarder.Delivery {
        Forwarder.Delivery(
            session: "3fe7378a-238f-4cf3-bca6-de657881f8c2",
            notification: PendingNotification(position: 42, kind: .error, attempts: attempts, firstAttemptAt: firstAttemptAt),
            eventID: UUID(uuidString: "6a2b1d4e-0000-4000-8000-000000000001")!, body: "{}", committedAt: now
        )
    }

    func decide(_ delivery: Forwarder.Delivery, _ result: TransportResult, retry: RetryPolicy = RetryPolicy())
        -> (record: DeliveryRecord, next: DeliveryDecision.Next, event: DeliveryEvent)
    {
        var random = FixedRandom()
        let decided = DeliveryDecision.decide(delivery, result: result, outcome: DeliveryOutcome.classify(result), now: now, retry: retry, random: &random)
        let appended = decided.record.append.events[0]
        return (decided.record, decided.next, DeliveryEvent(type: appended.type, data: appended.data)!)
    }

    func answer(_ status: Int, _ body: String, retryAfter: Int? = nil) -> TransportResult {
        .response(status: status, body: Array(body.utf8), retryAfter: retryAfter, latency: .milliseconds(12))
    }

    @Test("delivered: NotificationForwarded with Hubject's code and latency, the row delivered, the session goes on")
    func delivered() {
        let (record, next, event) = decide(delivery(), answer(200, #"{"Result":true,"StatusCode":{"Code":"000"}}"#))
        #expect(event.type == .notificationForwarded && event.outcome == "delivered" && event.statusCode == "000")
        #expect(event.latencyMilliseconds == 12 && event.attempt == 1 && event.position == 42)
        #expect(record.append.stream == "delivery-3fe7378a-238f-4cf3-bca6-de657881f8c2")
        #expect(record.row.state == "delivered" && record.row.attempts == 1)
        guard case .completed(let accepted) = next else { Issue.record("\(next)"); return }
        #expect(accepted == now)
    }

    @Test("a retryable failure: ForwardingAttemptFailed with the next attempt's time; the same attempt always has the same event id")
    func retryable() {
        let first = decide(delivery(), .failure(.timeout, "timed out"))
        #expect(first.event.type == .forwardingAttemptFailed && first.event.nextAttemptAt != nil)
        #expect(first.record.row.state == "retrying")
        guard case .retry(let attempts, _, let notBefore) = first.next else { Issue.record("\(first.next)"); return }
        #expect(attempts == 1 && notBefore > now)
        let again = decide(delivery(), .failure(.timeout, "timed out"))
        #expect(again.record.append.events[0].id == first.record.append.events[0].id, "a commit tried again is not recorded twice")
    }

    @Test("the retry budget spent, or a final code: NotificationDeadLettered, the row dead")
    func deadLetters() {
        let spent = decide(delivery(attempts: 1, firstAttemptAt: now), .failure(.connect, "refused"), retry: RetryPolicy(maxAttempts: 2))
        #expect(spent.event.type == .notificationDeadLettered && spent.event.reason?.hasPrefix("retry budget spent after 2 attempts") == true)
        #expect(spent.record.row.state == "dead")
        let final = decide(delivery(), answer(200, #"{"Result":false,"StatusCode":{"Code":"017"}}"#))
        #expect(final.event.type == .notificationDeadLettered && final.record.row.statusCode == "017")
    }
}

@Suite("Hubject's answer without the identification it may quote")
struct AnswerRedactionTests {
    @Test("a validation answer quoting the EVCO-ID, in any case or without separators, keeps its reason but not the value")
    func redacted() {
        let sent = #"{"Type":"Error","SessionID":"s","Identification":{"RemoteIdentification":{"EvcoID":"DE-8EO-CAet5e4XY-3"}},"EvseID":"DE*A36*E1*1"}"#
        let answer = #"{"Result":false,"StatusCode":{"Code":"022","AdditionalInfo":"EvcoID DE8EOCAET5E4XY3 unknown; was de-8eo-caet5e4xy-3"}}"#
        let result = Forwarder.withoutIdentification(.response(status: 200, body: Array(answer.utf8), retryAfter: nil, latency: .zero), sent: sent)
        guard case .response(_, let body, _, _) = result else {
            Issue.record("not a response")
            return
        }
        let text = String(decoding: body, as: UTF8.self)
        #expect(!text.uppercased().contains("8EO"), "\(text)")
        #expect(text.contains("unknown; was"), "the reason stays")
        guard case .deadLetter(let reason) = DeliveryOutcome.classify(result) else {
            Issue.record("not a dead letter")
            return
        }
        #expect(reason.contains("022") && !reason.uppercased().contains("8EO"))
    }

    @Test("an answer that quotes nothing is left as it came")
    func untouched() {
        let result = TransportResult.response(status: 500, body: [0xFF, 0x41], retryAfter: nil, latency: .zero)
        #expect(Forwarder.withoutIdentification(result, sent: #"{"Identification":{"RFIDMifareFamilyIdentification":{"UID":"0A0B0C0D"}}}"#) == result)
    }
}
