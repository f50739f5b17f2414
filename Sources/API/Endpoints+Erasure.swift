import HTTPServer
import Ingestion
import JSON
import Ledger

/// `POST /v1/admin/erasures`: erase a driver's identification (db/0019; `error-ledger erase`).
///
/// The body names one identification, `{"uid": "04A2B3C4"}` or `{"evco_id": "DE-8EO-CAet5e4XY-3"}`,
/// and may say who asked (`requested_by`, up to 200 characters; the token's name otherwise).
/// Needs `admin` on a token not limited to OperatorIDs: an identification is not an operator's,
/// and its erasure reaches every notification stored with it. Answers 201 with the subject (the
/// keyed hash the erasure's event keeps), the keys deleted and the event.
extension Endpoints {
    func erase(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .admin)
        _ = try QueryParameters(match.target, allowed: [])
        guard token.operatorIDs == nil else {
            throw APIProblem(
                status: 403, code: "forbidden",
                message: "this token is limited to OperatorIDs; an erasure reaches every operator's notifications and needs an admin token without that limit",
                headers: [("WWW-Authenticate", "Bearer realm=\"error-ledger\", error=\"insufficient_scope\", scope=\"admin\"")]
            )
        }
        guard request.body.count <= 4096, case .object(let body)? = try? JSONParser.parse(request.body, maxDepth: 4, maxBytes: 4096) else {
            throw APIProblem.invalid("body", #"must be a JSON object of at most 4096 bytes, e.g. {"uid": "04A2B3C4"}"#)
        }
        for key in body.keys where !["uid", "evco_id", "requested_by"].contains(key) {
            throw APIProblem.invalid(key, "is not a member of an erasure request (uid, evco_id, requested_by)")
        }
        let named: [(String, IdentificationSubjects.Kind)] = [("uid", .uid), ("evco_id", .evcoID)].filter { body[$0.0] != nil }
        guard named.count == 1, let (field, kind) = named.first else {
            throw APIProblem.invalid("body", "must name one identification: uid or evco_id")
        }
        guard let value = body[field]?.stringValue else { throw APIProblem.invalid(field, "must be a string") }
        if let reason = IdentificationErasure.validate(value, kind: kind) { throw APIProblem.invalid(field, reason) }
        var requestedBy = "token \(token.name)"
        if let member = body["requested_by"] {
            guard let text = member.stringValue else { throw APIProblem.invalid("requested_by", "must be a string") }
            if let reason = IdentificationErasure.validate(requestedBy: text, erasing: value, kind: kind) {
                throw APIProblem.invalid("requested_by", reason)
            }
            requestedBy = text + " (token \(token.name))"
        }
        let outcome: Ingestor.ErasureOutcome
        do {
            outcome = try await ingestor.erase(kind, value: value, requestedBy: requestedBy)
        } catch let refused as ErasureRefused {
            // The token's name, kept as who asked, may be what holds the value.
            throw APIProblem.invalid(
                refused.field, refused.reason + (body["requested_by"] == nil ? " (without requested_by, the token's name is kept)" : "")
            )
        }
        return .json(201, outcome.json)
    }
}
