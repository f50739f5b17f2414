public import HTTPServer
import JSON
import OICP

/// The one error shape of the `/v1` endpoints, and of the router's own 400/404/405:
///
/// ```json
/// {"error": {"code": "invalid_parameter", "message": "from: …", "details": [{"field": "from", "message": "…"}]}}
/// ```
///
/// `code` is stable (clients branch on it); `message` is for people; `details` names each field
/// at fault. The ingest endpoint answers OICP acknowledgements instead, and `/readyz` its own
/// status object whether ready or not.
public struct APIProblem: Error, Sendable, Hashable {
    public struct Detail: Sendable, Hashable {
        /// The query parameter, header or path segment at fault.
        public var field: String
        public var message: String
    }

    public var status: Int
    public var code: String
    public var message: String
    public var details: [Detail]
    /// Extra response headers (`WWW-Authenticate`, `Allow`, `Retry-After`).
    public var headers: [(name: String, value: String)] = []

    public init(status: Int, code: String, message: String, details: [Detail] = [], headers: [(name: String, value: String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    public static func == (a: APIProblem, b: APIProblem) -> Bool {
        a.status == b.status && a.code == b.code && a.message == b.message && a.details == b.details
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(status)
        hasher.combine(code)
        hasher.combine(message)
    }

    /// A query parameter, header or path segment that is malformed or out of range.
    static func invalid(_ field: String, _ message: String) -> APIProblem {
        APIProblem(status: 400, code: "invalid_parameter", message: "\(field): \(message)", details: [Detail(field: field, message: message)])
    }

    static func notFound(_ message: String) -> APIProblem {
        APIProblem(status: 404, code: "not_found", message: message)
    }

    static let missingToken = APIProblem(
        status: 401, code: "unauthorized", message: "send a token: Authorization: Bearer led_…",
        headers: [("WWW-Authenticate", "Bearer realm=\"error-ledger\"")]
    )

    static let badToken = APIProblem(
        status: 401, code: "unauthorized", message: "the bearer token is malformed, unknown or revoked",
        headers: [("WWW-Authenticate", "Bearer realm=\"error-ledger\", error=\"invalid_token\"")]
    )

    static func missingScope(_ scope: TokenScope) -> APIProblem {
        APIProblem(
            status: 403, code: "forbidden", message: "this token lacks the \(scope.rawValue) scope",
            headers: [("WWW-Authenticate", "Bearer realm=\"error-ledger\", error=\"insufficient_scope\", scope=\"\(scope.rawValue)\"")]
        )
    }

    /// The client's address failed authentication too often lately.
    static func tooManyFailures(retryAfter: Duration) -> APIProblem {
        let seconds = max(1, Int((retryAfter / .seconds(1)).rounded(.up)))
        return APIProblem(
            status: 429, code: "too_many_requests", message: "too many failed authentications from this address; try again in \(seconds) s",
            headers: [("Retry-After", String(seconds))]
        )
    }

    /// The database did not answer: nothing was changed, the request may be sent again.
    static func unavailable(_ message: String) -> APIProblem {
        APIProblem(status: 503, code: "unavailable", message: message, headers: [("Retry-After", "1")])
    }

    /// The problem as a response.
    public var response: HTTPResponse {
        var fields: [(key: String, value: JSONValue)] = [("code", .string(code)), ("message", .string(message))]
        if !details.isEmpty {
            fields.append(("details", .array(details.map { .object(JSONObject([("field", .string($0.field)), ("message", .string($0.message))])) })))
        }
        let body = JSONValue.object(JSONObject([("error", .object(JSONObject(fields)))])).serialized()
        var response = HTTPResponse.json(status, body)
        for header in headers { response.headers.append(name: header.name, value: header.value) }
        return response
    }
}

extension HTTPResponse {
    /// A JSON body.
    static func json(_ status: Int, _ body: String) -> HTTPResponse {
        json(status, Array(body.utf8))
    }

    static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: HTTPHeaders([("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")]),
            body: .bytes(body)
        )
    }
}
