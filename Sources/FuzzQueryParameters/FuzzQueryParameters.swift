import API
import EventStore
import Forwarding
import Foundation
import FuzzSupport
import HTTPServer
import JSON
import OICP
import Projections

// libFuzzer target for the query side of the `/v1` API (deploy/fuzz query): the input is a
// request target (`/v1/errors?type=CriticalError&cursor=…`). It goes through `RequestTarget`
// (path segments, percent-decoding, `+`) and then, for each endpoint's set of parameters,
// through the same `QueryParameters` calls and cursor checks the handler makes before it
// touches the database (Endpoints+Read.swift, Endpoints+Deliveries.swift). The checks, beyond
// "does not crash":
// - what a check lets through is what the handler relies on: a single non-empty value within
//   its length, an integer in range, `from` before `to`, known ErrorTypes without repeats;
// - a refusal is a 400 `invalid_parameter` whose rendered response is JSON and whose head
//   can be written.

/// An endpoint's checks: its allowed names and what its handler reads, in the handler's order.
private struct Endpoint: Sendable {
    var allowed: Set<String>
    var read: @Sendable (QueryParameters) throws -> Void
}

private let list: Set<String> = ["limit", "cursor"]

private let endpoints: [Endpoint] = [
    // GET /v1/sessions/{id}, /v1/evses/{id}/summary, /readyz …: no parameters at all.
    Endpoint(allowed: []) { _ in },
    // GET /v1/sessions/{id}/timeline
    Endpoint(allowed: list) { parameters in
        try limit(parameters, in: 1...TimelineQueries.maxLimit)
        // The handler refuses what is not a sequence number (an int4 column), then reads it with Int(_:).
        if let cursor = try string(parameters, "cursor", maxLength: 20) {
            guard let seq = plainDecimal(cursor, as: Int32.self) else {
                throw APIProblem(status: 400, code: "invalid_parameter", message: "cursor: not a cursor")
            }
            require(
                Int(cursor) == Int(seq) && seq >= 0, "timeline cursor \(cursor) read as \(String(describing: Int(cursor)))")
        }
    },
    // GET /v1/evses/{id}/errors
    Endpoint(allowed: list.union(["from", "to", "type"])) { parameters in
        try window(parameters)
        try errorTypes(parameters)
        try limit(parameters, in: 1...TimelineQueries.maxLimit)
        try errorCursor(parameters)
    },
    // GET /v1/errors
    Endpoint(allowed: list.union(["operator", "from", "to", "type"])) { parameters in
        try window(parameters)
        try errorTypes(parameters)
        _ = try string(parameters, "operator", maxLength: 64)
        try limit(parameters, in: 1...TimelineQueries.maxLimit)
        try errorCursor(parameters)
    },
    // GET /v1/errors/top-evses
    Endpoint(allowed: ["operator", "from", "to", "limit"]) { parameters in
        try window(parameters)
        try limit(parameters, in: 1...100)
        _ = try string(parameters, "operator", maxLength: 64)
    },
    // GET /v1/errors/stream (the parameter form of Last-Event-ID)
    Endpoint(allowed: ["operator", "type", "last_event_id"]) { parameters in
        _ = try string(parameters, "operator", maxLength: 64)
        try errorTypes(parameters)
        if let resume = try string(parameters, "last_event_id", maxLength: 64), let cursor = ReadCursor(resume) {
            require(ReadCursor(cursor.description) == cursor, "Last-Event-ID \(resume) does not round-trip")
        }
    },
    // GET /v1/deliveries
    Endpoint(allowed: ["state", "session", "limit", "cursor"]) { parameters in
        if let state = try string(parameters, "state", maxLength: 16) { _ = DeliveryView.states.contains(state) }
        _ = try string(parameters, "session", maxLength: 250)
        try limit(parameters, in: 1...DeliveryQueries.maxLimit)
        if let cursor = try string(parameters, "cursor", maxLength: 20),
            let position = plainDecimal(cursor, as: Int64.self)
        {
            require(position >= 0 && Int64(cursor) == position, "delivery cursor \(cursor) read as \(position)")
        }
    },
]

private func string(_ parameters: QueryParameters, _ name: String, maxLength: Int) throws -> String? {
    let value = try parameters.string(name, maxLength: maxLength)
    if let value {
        require(!value.isEmpty && value.utf8.count <= maxLength, "\(name)=\(value) passed maxLength \(maxLength)")
    }
    return value
}

private func limit(_ parameters: QueryParameters, in range: ClosedRange<Int>) throws {
    if let value = try parameters.integer("limit", in: range) {
        require(range.contains(value), "limit \(value) outside \(range)")
    }
}

private func window(_ parameters: QueryParameters) throws {
    let window = try parameters.window()
    if let from = window.from, let to = window.to { require(from < to, "from \(from) not before to \(to)") }
}

private func errorTypes(_ parameters: QueryParameters) throws {
    let types = try parameters.errorTypes("type")
    require(
        Set(types).count == types.count && types.allSatisfy { ErrorType(rawValue: $0) != nil }, "type gave \(types)")
}

private func errorCursor(_ parameters: QueryParameters) throws {
    guard let cursor = try string(parameters, "cursor", maxLength: 64) else { return }
    try TimelineQueries.checkErrorCursor(cursor)
}

/// A refusal as the client gets it: a 400 with a JSON body, and a head the writer accepts.
private func checkRefusal(_ error: any Error) {
    if error is QueryError { return }  // the handler maps it to 400 through its own catch
    guard let problem = error as? APIProblem else { return require(false, "an unexpected error \(error)") }
    require(
        problem.status == 400 && problem.code == "invalid_parameter", "refused with \(problem.status) \(problem.code)")
    let response = problem.response
    guard case .bytes(let body) = response.body else { return require(false, "a streamed problem body") }
    require((try? JSONParser.parse(body, maxDepth: 8, maxBytes: Int.max)) != nil, "a problem body that is not JSON")
    _ = HTTPResponseWriter.head(response, version: .http1_1, keepAlive: true)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: fuzzInput(data, size), as: UTF8.self)
    guard let target = RequestTarget(text) else { return 0 }
    for endpoint in endpoints {
        do {
            let parameters = try QueryParameters(target, allowed: endpoint.allowed)
            require(target.query.allSatisfy { endpoint.allowed.contains($0.name) }, "an unknown parameter passed")
            try endpoint.read(parameters)
        } catch {
            checkRefusal(error)
        }
    }
    return 0
}

#if !FUZZING
    @main
    enum Replay {
        static func main() {
            replayCommandLine { input in _ = input.withUnsafeBufferPointer { fuzz($0.baseAddress, $0.count) } }
        }
    }
#endif
