import Foundation
import HTTPServer
import Logging
import Synchronization

/// What the access log says of a request beyond its head and its answer, filled in while it is
/// handled: its id, the route that matched, the token that authenticated.
final class RequestRecord: Sendable {
    /// The client's `X-Request-ID` when it is acceptable (`validID`), else one made here. Echoed
    /// in the answer and kept in the metadata of the events the request appends.
    let id: String
    private let details = Mutex<(route: String?, token: String?)>((nil, nil))

    init(_ request: HTTPRequest) {
        id = request.head.headers["x-request-id"].flatMap(Self.validID) ?? RequestID.make()
    }

    var route: String? {
        get { details.withLock { $0.route } }
        set { details.withLock { $0.route = newValue } }
    }

    var token: String? {
        get { details.withLock { $0.token } }
        set { details.withLock { $0.token = newValue } }
    }

    /// The request being handled by this task, if any.
    @TaskLocal static var current: RequestRecord?

    /// At most 128 visible ASCII characters (a correlation id, kept in every event's metadata: an
    /// unbounded one would be too); anything else is replaced by a generated id.
    static func validID(_ value: String) -> String? {
        guard !value.isEmpty, value.utf8.count <= 128, value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        return value
    }
}

/// One line per request, at `info` on the `access` logger: method, route (the pattern, never the
/// query), status, duration, body bytes (`stream` for streamed answers), token name, request id,
/// client address.
struct AccessLog: Sendable {
    let logger: Logger?

    func record(_ request: HTTPRequest, _ record: RequestRecord, _ response: HTTPResponse, elapsed: Duration) {
        guard let logger else { return }
        let bytes: String =
            switch response.body {
            case .bytes(let body): String(body.count)
            case .stream, .failableStream: "stream"
            }
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.info(
            "request",
            metadata: [
                "method": "\(request.head.method)", "route": "\(record.route ?? "unmatched")", "status": "\(response.status)",
                "duration_ms": "\(String(format: "%.2f", milliseconds))", "bytes": "\(bytes)", "token": "\(record.token ?? "-")",
                "request_id": "\(record.id)", "client": "\(request.clientAddress ?? "-")",
            ]
        )
    }

    /// The line for an answer the HTTP server gave itself (malformed HTTP, 408, 413, a
    /// connection cap): no method, route, token or request id was read.
    func refusal(_ refusal: HTTPServerConfiguration.Refusal) {
        logger?.info(
            "request",
            metadata: [
                "method": "-", "route": "http-layer", "status": "\(refusal.status)", "reason": "\(refusal.reason)", "bytes": "-",
                "token": "-", "request_id": "-", "client": "\(refusal.clientAddress)",
            ]
        )
    }
}
