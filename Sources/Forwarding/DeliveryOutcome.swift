import Foundation
public import OICP

/// What a forwarding attempt came to, as REFERENCE §9 classifies Hubject's answers.
///
/// | outcome | when |
/// | --- | --- |
/// | `delivered` | an `eRoamingAcknowledgement` with `Result: true` and `000` |
/// | `refusedByEMP` | `Result: false` with a code the EMP sends (authentication, contract, EVSE codes): received, and final |
/// | `retryable` | no response (network, TLS, timeout), HTTP 5xx or 429 (with `Retry-After`), OICP `001`, `002`, `009`, `021`, `310`, or a body that is not an acknowledgement |
/// | `deadLetter` | OICP `400` (invalid or closed session), `017`, `022`, `210`, `300`, `320`, `018`, `019`; an HTTP 4xx whose body is not an acknowledgement (a validation fault) |
///
/// The body is read as an acknowledgement whatever the HTTP status: Hubject answers 500 with
/// an OICP body (REFERENCE §2.3). A 500 with `001` is retryable, but the retry budget caps it,
/// since Hubject has answered `001` to deterministic input errors too (§9).
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered(Acknowledgement)
    case refusedByEMP(Acknowledgement)
    case retryable(reason: String, retryAfter: Int?)
    case deadLetter(reason: String)

    /// Codes worth another attempt (REFERENCE §9).
    static let retryableCodes: Set<String> = ["001", "002", "009", "021", "310"]
    /// Codes no retry can change (REFERENCE §9; `018`/`019` are inconsistent-ID data errors).
    static let finalCodes: Set<String> = ["400", "017", "018", "019", "022", "210", "300", "320"]
    /// How much of a body that is not an acknowledgement is kept in the attempt's event.
    static let keptBody = 512

    public static func classify(_ result: TransportResult) -> DeliveryOutcome {
        switch result {
        case .failure(let kind, let message):
            return .retryable(reason: "\(kind.rawValue): \(message)", retryAfter: nil)
        case .response(let status, let body, let retryAfter, _):
            guard let acknowledgement = try? JSONDecoder().decode(Acknowledgement.self, from: Data(body)) else {
                let excerpt = String(decoding: body.prefix(keptBody), as: UTF8.self) + (body.count > keptBody ? "…" : "")
                let reason = "HTTP \(status), not an eRoamingAcknowledgement: \(excerpt)"
                if status == 429 || status >= 500 || (200..<300).contains(status) {
                    return .retryable(reason: reason, retryAfter: retryAfter)
                }
                return .deadLetter(reason: reason)
            }
            let code = acknowledgement.statusCode.code
            let described = "HTTP \(status), Result \(acknowledgement.result), code \(code)"
                + (acknowledgement.statusCode.description.map { " \($0)" } ?? "")
                + (acknowledgement.statusCode.additionalInfo.map { ": \($0)" } ?? "")
            if acknowledgement.result, code == CodeType.success.rawValue, (200..<300).contains(status) {
                return .delivered(acknowledgement)
            }
            if status == 429 || retryableCodes.contains(code) { return .retryable(reason: described, retryAfter: retryAfter) }
            if finalCodes.contains(code) { return .deadLetter(reason: described) }
            if status >= 500 { return .retryable(reason: described, retryAfter: retryAfter) }
            // Result false with another code: Hubject passed it on and the EMP refused it.
            if !acknowledgement.result { return .refusedByEMP(acknowledgement) }
            return .deadLetter(reason: "\(described) (Result true with a code other than 000)")
        }
    }
}
