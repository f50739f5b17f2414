import EventStore
import Foundation
import HTTPServer
import Ingestion
import Ledger
import OICP
import Postgres

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
            token = try await authenticator.authenticate(request, scope: .ingest)
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
        let context = IngestContext(
            receivedAt: receivedAt, client: token.name, idempotencyKey: keys.first, requestID: RequestRecord.current?.id ?? request.head.headers["x-request-id"].flatMap(RequestRecord.validID),
            source: "http"
        )
        // An operator-limited token sends only its operators' notifications at its operators'
        // EVSEs; anything else is refused (403 / 017, naming the field) and quarantined.
        if token.operatorIDs != nil, case .success(let validated) = ingestor.validator.validate(request.body) {
            let problems = token.writeProblems(validated.notification)
            if !problems.isEmpty {
                metrics.countIngest("rejected", type: validated.notification.type.rawValue)
                await ingestor.quarantine(request.body, problems: problems, context: context)
                return acknowledge(
                    403, .failure(.unauthorizedAccess, problems.map(\.description).joined(separator: "; "), sessionID: validated.notification.sessionID)
                )
            }
        }
        do {
            let outcome = try await ingestor.ingest(request.body, context: context)
            switch outcome.disposition {
            case .appended:
                metrics.countIngest("appended", type: outcome.notificationType)
                return acknowledge(200, outcome.acknowledgement)
            case .alreadyAppended:
                metrics.countIngest("replayed", type: outcome.notificationType)
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
        } catch let error as EventStoreError where error.code == .streamRetiring {
            // The session began in a month retention is taking out of the store: the client's
            // input, and sending it again changes nothing until the month is gone.
            metrics.countIngest("rejected")
            return acknowledge(
                409,
                .failure(.dataError, "\(error.message) (LEDGER_RETENTION); once the month is gone, a notification for this SessionID starts it anew")
            )
        } catch let error as EventStoreError where error.code == .commitTimedOut || error.code == .overloaded {
            metrics.countIngest("failed")
            logger.warning("ingest not confirmed", metadata: LogMetadata.error(error))
            let message =
                error.code == .commitTimedOut
                ? "the ledger's database did not confirm the commit in time: the outcome is unknown; send the same notification again (it is stored once)"
                : "the ledger is taking more notifications than its database commits; nothing was stored; send it again shortly"
            return acknowledge(503, .failure(.systemError, message), headers: [("Retry-After", "1")])
        } catch let error as PostgresError where error.sqlState?.hasPrefix("22") == true {
            // A data exception: something in the body PostgreSQL cannot store that validation
            // let through. The client's input, so a refusal, never "send it again".
            metrics.countIngest("rejected")
            logger.warning("a notification reached the database and was refused", metadata: LogMetadata.error(error))
            let problems = [ValidationProblem(pointer: "", message: "the body holds a value the ledger cannot store")]
            await ingestor.quarantine(request.body, problems: problems, context: context)
            return acknowledge(400, .failure(.dataError, problems[0].message))
        } catch {
            metrics.countIngest("failed")
            logger.error("ingest failed", metadata: LogMetadata.error(error))
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
