import Foundation
import HTTPServer
import Ingestion
import Ledger
import OICP

/// `POST /api/oicp/notificationmgmt/v11/charging-notifications`: Hubject's path and body; the
/// answer is always an OICP `eRoamingAcknowledgement`, whatever went wrong.
///
/// | HTTP | Result / Code | when |
/// | --- | --- | --- |
/// | 200 | true / `000` | appended durably, or appended before (a replay: the same acknowledgement again) |
/// | 400 | false / `022` | the body breaks OICP 2.3; `AdditionalInfo` lists every field problem; quarantined |
/// | 400 | false / `022` | a malformed `Idempotency-Key` header, or a query parameter |
/// | 401 | false / `017` | no token, or an unknown, malformed or revoked one |
/// | 403 | false / `017` | the token lacks `ingest`, or may not send for the notification's OperatorID |
/// | 409 | false / `022` | the `Idempotency-Key` was used before for a different notification |
/// | 503 | false / `021` | the store failed: nothing was acknowledged; sending again is safe |
extension Endpoints {
    static let maxIdempotencyKey = 255

    func ingest(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let receivedAt = Date()
        if let parameter = match.target.query.first {
            metrics.countIngest("rejected")
            return acknowledge(400, .failure(.dataError, "query parameter \(parameter.name): this endpoint takes none"))
        }
        let token: APIToken
        do {
            token = try await authenticator.authenticate(request.head.headers, scope: .ingest)
        } catch {
            metrics.countIngest("rejected")
            let code: CodeType = error.status == 503 ? .systemError : .unauthorizedAccess
            return acknowledge(error.status, .failure(code, error.message), headers: error.headers)
        }
        let keys = request.head.headers.values("idempotency-key")
        guard keys.count <= 1, keys.allSatisfy(Self.isValidIdempotencyKey) else {
            metrics.countIngest("rejected")
            return acknowledge(
                400, .failure(.dataError, "Idempotency-Key: give one header of 1 to \(Self.maxIdempotencyKey) visible ASCII characters")
            )
        }
        if let operators = token.operatorIDs, case .success(let validated) = ingestor.validator.validate(request.body),
            !operators.contains(validated.notification.operatorID)
        {
            metrics.countIngest("rejected")
            return acknowledge(
                403,
                .failure(
                    .unauthorizedAccess,
                    "OperatorID \(validated.notification.operatorID): this token may send notifications for \(operators.joined(separator: ", ")) only",
                    sessionID: validated.notification.sessionID
                )
            )
        }
        let context = IngestContext(
            receivedAt: receivedAt, client: token.name, idempotencyKey: keys.first, requestID: request.head.headers["x-request-id"],
            source: "http"
        )
        do {
            let outcome = try await ingestor.ingest(request.body, context: context)
            switch outcome.disposition {
            case .appended:
                metrics.countIngest("appended")
                return acknowledge(200, outcome.acknowledgement)
            case .alreadyAppended:
                metrics.countIngest("replayed")
                return acknowledge(200, outcome.acknowledgement, headers: [("Idempotent-Replayed", "true")])
            case .rejected:
                metrics.countIngest("rejected")
                return acknowledge(400, outcome.acknowledgement)
            }
        } catch let error as IngestError {
            metrics.countIngest(error.code == .conflict ? "failed" : "rejected")
            switch error.code {
            case .idempotencyKeyReused: return acknowledge(409, .failure(.dataError, error.message))
            case .conflict: return acknowledge(503, .failure(.systemError, error.message), headers: [("Retry-After", "1")])
            }
        } catch {
            metrics.countIngest("failed")
            logger.error("ingest failed", metadata: ["error": "\(error)"])
            return acknowledge(
                503, .failure(.systemError, "the ledger could not store the notification; nothing was acknowledged; send it again"),
                headers: [("Retry-After", "1")]
            )
        }
    }

    /// RFC 9110 token-ish: 1…255 visible ASCII characters.
    static func isValidIdempotencyKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= maxIdempotencyKey && key.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    private func acknowledge(_ status: Int, _ acknowledgement: Acknowledgement, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        var response = HTTPResponse(
            status: status, headers: HTTPHeaders([("Content-Type", "application/json; charset=utf-8")]),
            body: .bytes(Array(acknowledgement.serialized().utf8))
        )
        for header in headers { response.headers.append(name: header.name, value: header.value) }
        return response
    }
}

extension Acknowledgement {
    /// `Result: false` with `code`, its OICP description, and what went wrong.
    static func failure(_ code: CodeType, _ additionalInfo: String, sessionID: String? = nil) -> Acknowledgement {
        Acknowledgement(
            result: false,
            statusCode: StatusCode(code, description: code.summary.hasSuffix(".") ? String(code.summary.dropLast()) : code.summary, additionalInfo: String(additionalInfo.prefix(StatusCode.maxAdditionalInfoLength))),
            sessionID: sessionID
        )
    }
}
