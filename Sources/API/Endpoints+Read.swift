import EventStore
import Foundation
import HTTPServer
import JSON
import Ledger
import OICP
import Projections

/// The `/v1` read endpoints. Each needs a token with `read`; a token limited to OperatorIDs
/// sees only their sessions, EVSEs and errors, and gets 404 for anything else, exactly as for
/// something that does not exist.
extension Endpoints {
    static let listParameters: Set<String> = ["limit", "cursor"]
    static let evseErrorParameters = listParameters.union(["from", "to", "type"])
    static let errorParameters = listParameters.union(["operator", "from", "to", "type"])

    func session(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        _ = try QueryParameters(match.target, allowed: [])
        let summary = try await visibleSession(match.parameters["sessionID"] ?? "", token)
        return .json(200, summary.json)
    }

    func sessionTimeline(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        let parameters = try QueryParameters(match.target, allowed: Self.listParameters)
        let representation = try Representation.negotiate(request.head.headers["accept"])
        let limit = try parameters.integer("limit", in: 1...(representation == .page ? TimelineQueries.maxLimit : Int.max))
        let cursor = try parameters.string("cursor", maxLength: 20)
        // A timeline cursor is the last entry's sequence number in the session (an int4 column).
        if let cursor, plainDecimal(cursor, as: Int32.self) == nil {
            throw APIProblem.invalid("cursor", "\"\(cursor)\" is not a cursor this timeline handed out")
        }
        let sessionID = try await visibleSession(match.parameters["sessionID"] ?? "", token).sessionID
        let queries = queries
        return try await list(representation, columns: TimelineItem.fieldNames, cursor: cursor, limit: limit) { cursor, limit in
            try await queries.sessionTimeline(sessionID, after: cursor.flatMap(Int.init) ?? 0, limit: limit)
        }
    }

    func evseErrors(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        let parameters = try QueryParameters(match.target, allowed: Self.evseErrorParameters)
        let representation = try Representation.negotiate(request.head.headers["accept"])
        let evseID = match.parameters["evseID"] ?? ""
        var filter = try errorFilter(parameters, token)
        filter.evseID = evseID
        let limit = try parameters.integer("limit", in: 1...(representation == .page ? TimelineQueries.maxLimit : Int.max))
        let cursor = try errorCursor(parameters)
        // An export streams at once, so it checks first; a page checks only when it comes back
        // empty (one query for the common case).
        if representation != .page { try await requireVisibleEvse(evseID, token) }
        let queries = queries
        let response = try await list(representation, columns: ErrorItem.fieldNames, cursor: cursor, limit: limit) { [filter] cursor, limit in
            try await queries.errors(filter, after: cursor, limit: limit)
        } emptyPage: {
            try await self.requireVisibleEvse(evseID, token)
        }
        return response
    }

    func evseSummary(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        _ = try QueryParameters(match.target, allowed: [])
        let evseID = match.parameters["evseID"] ?? ""
        guard token.sees(evse: evseID), let summary = try await queries.evseSummary(evseID) else {
            throw APIProblem.notFound("no EVSE \(evseID) in the ledger")
        }
        return .json(200, summary.json)
    }

    func errors(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        let parameters = try QueryParameters(match.target, allowed: Self.errorParameters)
        let representation = try Representation.negotiate(request.head.headers["accept"])
        var filter = try errorFilter(parameters, token)
        filter.operatorID = try visibleOperator(parameters, token)
        let limit = try parameters.integer("limit", in: 1...(representation == .page ? TimelineQueries.maxLimit : Int.max))
        let cursor = try errorCursor(parameters)
        let queries = queries
        return try await list(representation, columns: ErrorItem.fieldNames, cursor: cursor, limit: limit) { [filter] cursor, limit in
            try await queries.errors(filter, after: cursor, limit: limit)
        }
    }

    func topEvses(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        let parameters = try QueryParameters(match.target, allowed: ["operator", "from", "to", "limit"])
        let representation = try Representation.negotiate(request.head.headers["accept"])
        let window = try parameters.window()
        let to = window.to ?? Date()
        let from = window.from ?? to.addingTimeInterval(-86_400)
        guard from < to else { throw APIProblem.invalid("from", "must be before to (\(rfc3339(to)))") }
        let limit = try parameters.integer("limit", in: 1...100) ?? 10
        let operatorIDs = try visibleOperator(parameters, token).map { [$0] } ?? token.operatorIDs
        let ranking = try await queries.topEvses(from: from, to: to, operatorIDs: operatorIDs, limit: limit)
        return records(representation, ranking, columns: EvseErrorCount.fieldNames) { items in
            #"{"from":"\#(rfc3339(from))","to":"\#(rfc3339(to))","items":[\#(items)]}"#
        }
    }

    func errorStream(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        let parameters = try QueryParameters(match.target, allowed: ["operator", "type", "last_event_id"])
        let operatorIDs = try visibleOperator(parameters, token).map { [$0] } ?? token.operatorIDs
        let types = try parameters.errorTypes("type")
        // `Last-Event-ID` is what an EventSource sends when it reconnects; the parameter is for
        // clients that cannot set headers.
        let parameter = try parameters.string("last_event_id", maxLength: 64)
        let resume = request.head.headers["last-event-id"] ?? parameter
        let cursor: ReadCursor
        if let resume {
            guard let parsed = ReadCursor(resume) else {
                throw APIProblem.invalid("Last-Event-ID", "\"\(resume)\" is not an id this feed sent (<transaction>-<position>)")
            }
            cursor = parsed
        } else {
            cursor = try await store.tailCursor()
        }
        let body = try liveFeed.stream(after: cursor, filter: LiveFeed.Filter(operatorIDs: operatorIDs, errorTypes: types), token: token.id)
        return HTTPResponse(
            status: 200,
            headers: HTTPHeaders([("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-store"), ("X-Accel-Buffering", "no")]),
            body: .failableStream(body)
        )
    }

    // MARK: - Shared

    /// The filters every error list takes, limited to what the token sees.
    private func errorFilter(_ parameters: QueryParameters, _ token: APIToken) throws(APIProblem) -> ErrorFilter {
        let window = try parameters.window()
        return ErrorFilter(operatorIDs: token.operatorIDs, errorTypes: try parameters.errorTypes("type"), from: window.from, to: window.to)
    }

    /// The `cursor` of an error list, checked before anything streams.
    private func errorCursor(_ parameters: QueryParameters) throws -> String? {
        guard let cursor = try parameters.string("cursor", maxLength: 64) else { return nil }
        try TimelineQueries.checkErrorCursor(cursor)
        return cursor
    }

    /// The `operator` parameter, if given; 404 when the token may not see that operator.
    private func visibleOperator(_ parameters: QueryParameters, _ token: APIToken) throws(APIProblem) -> String? {
        guard let operatorID = try parameters.string("operator", maxLength: 64) else { return nil }
        guard token.sees(operator: operatorID) else { throw APIProblem.notFound("no operator \(operatorID) in the ledger") }
        return operatorID
    }

    private func visibleSession(_ sessionID: String, _ token: APIToken) async throws -> SessionSummary {
        guard let summary = try await queries.session(sessionID), token.sees(operator: summary.operatorID, evse: summary.evseID) else {
            throw APIProblem.notFound("no session \(sessionID) in the ledger")
        }
        return summary
    }

    private func requireVisibleEvse(_ evseID: String, _ token: APIToken) async throws {
        guard token.sees(evse: evseID), try await queries.evseExists(evseID) else {
            throw APIProblem.notFound("no EVSE \(evseID) in the ledger")
        }
    }

    /// A list as one JSON page, or every row from `cursor` on as a CSV / NDJSON stream.
    private func list<Item: ReadModelRecord>(
        _ representation: Representation, columns: [String], cursor: String?, limit: Int?,
        fetch: @escaping PagedExport<Item>.Fetch, emptyPage: () async throws -> Void = {}
    ) async throws -> HTTPResponse {
        guard representation == .page else {
            return PagedExport(representation: representation, columns: columns, fetch: fetch, limit: limit).response(from: cursor)
        }
        let page = try await fetch(cursor, limit ?? TimelineQueries.defaultLimit)
        if page.items.isEmpty { try await emptyPage() }
        var body: [UInt8] = []
        body.reserveCapacity(page.items.count * 400 + 64)
        body.append(contentsOf: #"{"items":["#.utf8)
        for (index, item) in page.items.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            item.writeJSON(to: &body)
        }
        body.append(contentsOf: #"],"next_cursor":"#.utf8)
        if let next = page.next { JSONValue.writeString(next, to: &body) } else { body.append(contentsOf: "null".utf8) }
        body.append(UInt8(ascii: "}"))
        return .json(200, body)
    }
}
