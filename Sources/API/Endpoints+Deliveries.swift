import EventStore
import Forwarding
import Foundation
import HTTPServer
import JSON
import OICP

/// `/v1/deliveries`: the forwarding state of each notification, the backlog at a glance, and an
/// operator's retry of a dead letter. Listing and reading need `read`; a token limited to
/// OperatorIDs sees only their deliveries. A retry needs `admin`.
extension Endpoints {
    func deliveries(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        let parameters = try QueryParameters(match.target, allowed: ["state", "session", "limit", "cursor"])
        let state = try parameters.string("state", maxLength: 16)
        if let state, !DeliveryView.states.contains(state) {
            throw APIProblem.invalid("state", "\"\(state)\" is not a delivery state; use one of \(DeliveryView.states.joined(separator: ", "))")
        }
        let session = try parameters.string("session", maxLength: 250)
        let limit = try parameters.integer("limit", in: 1...DeliveryQueries.maxLimit) ?? DeliveryQueries.defaultLimit
        var before: Int64?
        if let cursor = try parameters.string("cursor", maxLength: 20) {
            guard let position = plainDecimal(cursor, as: Int64.self), position > 0 else {
                throw APIProblem.invalid("cursor", "\"\(cursor)\" is not a cursor this list handed out")
            }
            before = position
        }
        let page = try await deliveryQueries.list(state: state, sessionID: session, operatorIDs: token.operatorIDs, before: before, limit: limit)
        let items = page.items.map { $0.json.serialized() }.joined(separator: ",")
        let next = page.next.map { "\"\($0)\"" } ?? "null"
        return .json(200, #"{"items":[\#(items)],"next_cursor":\#(next)}"#)
    }

    func deliverySummary(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        _ = try QueryParameters(match.target, allowed: [])
        guard token.operatorIDs == nil else {
            throw APIProblem.notFound("the delivery summary covers every operator; ask with a token not limited to OperatorIDs")
        }
        let summary = try await deliveryQueries.summary()
        guard case .object(let fields) = summary.json else { return .json(200, summary.json.serialized()) }
        return .json(200, JSONValue.object(JSONObject(Array(fields) + [("forwarder", forwarderState)])).serialized())
    }

    func delivery(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        _ = try QueryParameters(match.target, allowed: [])
        let delivery = try await visibleDelivery(match.parameters["id"] ?? "", token)
        return .json(200, delivery.json.serialized())
    }

    func retryDelivery(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .admin)
        _ = try QueryParameters(match.target, allowed: [])
        let delivery = try await visibleDelivery(match.parameters["id"] ?? "", token)
        switch try await deliveryQueries.requestRetry(delivery.id, requestedBy: "token \(token.name)") {
        case .requested(let delivery):
            let body = JSONObject([("status", .string("retry_requested")), ("delivery", delivery.json)])
            return .json(202, JSONValue.object(body).serialized())
        case .notFound:
            throw APIProblem.notFound("no delivery \(delivery.id.uuidString.lowercased())")
        case .notDead(let delivery):
            throw APIProblem(
                status: 409, code: "not_dead_letter",
                message: "only a dead letter can be sent again; this delivery is \(delivery.state)"
            )
        }
    }

    /// This process's forwarder: `off` when it runs none (another instance may).
    var forwarderState: JSONValue {
        guard let forwarder else { return .object(JSONObject([("role", .string("off"))])) }
        let statistics = forwarder.currentStatistics
        return .object(
            JSONObject([
                ("role", .string(statistics.role.rawValue)), ("held", .number(String(statistics.held))),
                ("in_flight", .number(String(statistics.inFlight))),
            ])
        )
    }

    private func visible(_ delivery: DeliveryView, to token: APIToken) -> Bool {
        guard token.operatorIDs != nil else { return true }
        guard let operatorID = delivery.operatorID, let evseID = delivery.evseID else { return false }
        return token.sees(operator: operatorID, evse: evseID)
    }

    private func visibleDelivery(_ text: String, _ token: APIToken) async throws -> DeliveryView {
        guard let id = UUID(uuidString: text), text.count == 36 else {
            throw APIProblem.invalid("id", "\"\(text.prefix(64))\" is not a delivery id (the notification's event id, a UUID)")
        }
        guard let delivery = try await deliveryQueries.find(id), visible(delivery, to: token) else {
            throw APIProblem.notFound("no delivery \(id.uuidString.lowercased()) in the ledger")
        }
        return delivery
    }
}
