/// A request target split into its decoded path segments and query parameters.
public struct RequestTarget: Sendable, Hashable {
    /// Path segments, percent-decoded (`/v1/evses/DE%2AA36%2AE1%2A1` → `["v1", "evses", "DE*A36*E1*1"]`).
    public var segments: [String]
    /// Query parameters in order, percent-decoded, `+` as a space (HTML form encoding).
    public var query: [(name: String, value: String)]

    /// Parses an origin-form target; nil when `init(validating:)` would refuse it.
    public init?(_ target: String) {
        guard let parsed = try? RequestTarget(validating: target) else { return nil }
        self = parsed
    }

    /// Parses an origin-form target (RFC 9112 §3.2.1), percent-decoding each path segment and
    /// query parameter (RFC 3986 §2.1).
    /// - Throws: `HTTPParseError` (400) naming the problem: not origin form, a malformed escape,
    ///   decoded bytes that are not UTF-8, or a NUL (`%00`), which C strings downstream (libpq)
    ///   would silently cut at.
    public init(validating target: String) throws(HTTPParseError) {
        guard target.hasPrefix("/") else { throw HTTPParseError(400, "the request target is not an origin-form path") }
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var segments: [String] = []
        for raw in parts[0].split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            segments.append(try Self.decode(raw, plusIsSpace: false, what: "the path"))
        }
        if segments.last == "" { segments.removeLast() }  // a trailing slash
        self.segments = segments
        var query: [(name: String, value: String)] = []
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") where !pair.isEmpty {
                let halves = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = try Self.decode(halves[0], plusIsSpace: true, what: "a query parameter name")
                let value = try Self.decode(halves.count == 2 ? halves[1] : "", plusIsSpace: true, what: "the query parameter \(name)")
                query.append((name, value))
            }
        }
        self.query = query
    }

    /// Every value of the parameter `name`, in order.
    public func values(_ name: String) -> [String] { query.filter { $0.name == name }.map(\.value) }

    /// The first value of the parameter `name`.
    public subscript(name: String) -> String? { values(name).first }

    /// Percent-decoding (RFC 3986 §2.1) of one segment, name or value; `what` names it in the error.
    static func decode(_ text: Substring, plusIsSpace: Bool, what: @autoclosure () -> String) throws(HTTPParseError) -> String {
        // Nothing to decode (nearly every segment): the text as it is, already valid UTF-8.
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == 0 || ($0 == UInt8(ascii: "+") && plusIsSpace) }) {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexDigit), let low = iterator.next().flatMap(hexDigit) else {
                    throw HTTPParseError(400, "a malformed percent-escape in \(what())")
                }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        guard !bytes.contains(0) else { throw HTTPParseError(400, "a NUL byte (%00) in \(what())") }
        // Strict UTF-8: overlong forms, surrogates and truncated sequences are refused, so two
        // spellings never decode to one string.
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw HTTPParseError(400, "\(what()) is not UTF-8 once percent-decoded")
        }
        return decoded
    }

    public static func == (a: RequestTarget, b: RequestTarget) -> Bool {
        a.segments == b.segments && a.query.map(\.name) == b.query.map(\.name) && a.query.map(\.value) == b.query.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(segments)
        for pair in query {
            hasher.combine(pair.name)
            hasher.combine(pair.value)
        }
    }
}

/// Routes requests by method and path pattern (`/v1/evses/{evseID}/errors`) to handlers that get
/// the path parameters. Unknown paths are 404; known paths with another method are 405 with
/// `Allow`.
public struct Router: Sendable {
    public typealias Handler = @Sendable (HTTPRequest, RouteMatch) async -> HTTPResponse

    /// Answers what no route handles: a status (400, 404, 405) and why.
    public typealias ProblemResponder = @Sendable (_ status: Int, _ message: String) -> HTTPResponse

    private struct Route: Sendable {
        var method: String
        var path: String
        var pattern: [Segment]
        var handler: Handler
    }

    private enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    private var routes: [Route] = []
    private let problem: ProblemResponder

    /// - Parameter problem: renders the router's own 400/404/405 answers (plain text by default).
    public init(problem: @escaping ProblemResponder = { .text($0, $1 + "\n") }) {
        self.problem = problem
    }

    /// Adds a route; `{name}` segments capture one path segment each.
    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping Handler) {
        let segments = pattern.split(separator: "/").map { part -> Segment in
            part.hasPrefix("{") && part.hasSuffix("}") ? .parameter(String(part.dropFirst().dropLast())) : .literal(String(part))
        }
        routes.append(Route(method: method, path: pattern, pattern: segments, handler: handler))
    }

    /// Answers `request` with the matching route's handler, or 400/404/405.
    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        let target: RequestTarget
        do {
            target = try RequestTarget(validating: request.head.target)
        } catch {
            return problem(400, error.reason)
        }
        var allowed: [String] = []
        for route in routes {
            guard let parameters = Self.match(route.pattern, target.segments) else { continue }
            if route.method == request.head.method || (route.method == "GET" && request.head.method == "HEAD") {
                return await route.handler(request, RouteMatch(target: target, parameters: parameters, pattern: route.path))
            }
            allowed.append(route.method)
            if route.method == "GET" { allowed.append("HEAD") }
        }
        guard allowed.isEmpty else {
            var response = problem(405, "method \(request.head.method) is not allowed here; allowed: \(allowed.joined(separator: ", "))")
            response.headers.append(name: "Allow", value: allowed.joined(separator: ", "))
            return response
        }
        return problem(404, "no such resource")
    }

    private static func match(_ pattern: [Segment], _ segments: [String]) -> [String: String]? {
        guard pattern.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (part, segment) in zip(pattern, segments) {
            switch part {
            case .literal(let literal): guard literal == segment else { return nil }
            case .parameter(let name):
                guard !segment.isEmpty else { return nil }
                parameters[name] = segment
            }
        }
        return parameters
    }
}

/// What a route matched: the parsed target and the path parameters.
public struct RouteMatch: Sendable {
    public var target: RequestTarget
    public var parameters: [String: String]
    /// The route's pattern as registered (`/v1/evses/{evseID}/errors`): a label for metrics.
    public var pattern: String
}
