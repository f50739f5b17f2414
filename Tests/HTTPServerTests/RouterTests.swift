import HTTPServer
import Testing

private func request(_ method: String, _ target: String) -> HTTPRequest {
    HTTPRequest(
        head: HTTPRequestHead(method: method, target: target, version: .http1_1, headers: HTTPHeaders([("Host", "x")]), framing: .none),
        body: []
    )
}

private func body(_ response: HTTPResponse) -> String {
    if case .bytes(let bytes) = response.body { String(decoding: bytes, as: UTF8.self) } else { "" }
}

@Suite("Router and request targets")
struct RouterTests {
    private var router: Router {
        var router = Router()
        router.add("GET", "/v1/evses/{evseID}/errors") { _, match in
            .text(200, "\(match.parameters["evseID"] ?? "-") limit=\(match.target["limit"] ?? "-") types=\(match.target.values("type"))")
        }
        router.add("GET", "/v1/sessions/{sessionID}") { _, match in .text(200, "session \(match.parameters["sessionID"] ?? "-")") }
        router.add("POST", "/api/oicp/notificationmgmt/v11/charging-notifications") { _, _ in .text(200, "ingest") }
        return router
    }

    @Test("EvseIDs with '*' route the same written plainly or percent-encoded, and the query is decoded")
    func evseIDs() async {
        let plain = await router.respond(to: request("GET", "/v1/evses/DE*A36*E0001*1/errors?limit=10&type=CriticalError&type=Connector%20Error"))
        #expect(body(plain) == #"DE*A36*E0001*1 limit=10 types=["CriticalError", "Connector Error"]"#)
        let encoded = await router.respond(to: request("GET", "/v1/evses/DE%2AA36%2aE0001%2A1/errors?limit=10"))
        #expect(body(encoded) == "DE*A36*E0001*1 limit=10 types=[]")
        #expect(body(await router.respond(to: request("GET", "/v1/sessions/abc/"))) == "session abc", "a trailing slash")
    }

    @Test("unknown paths are 404, other methods 405 with Allow, HEAD follows GET, broken targets 400")
    func misses() async {
        #expect(await router.respond(to: request("GET", "/v1/nothing")).status == 404)
        #expect(await router.respond(to: request("GET", "/v1/evses//errors")).status == 404, "an empty parameter")
        let wrong = await router.respond(to: request("DELETE", "/v1/sessions/abc"))
        #expect(wrong.status == 405)
        #expect(wrong.headers["Allow"] == "GET, HEAD")
        #expect(await router.respond(to: request("HEAD", "/v1/sessions/abc")).status == 200)
        #expect(await router.respond(to: request("GET", "/v1/sessions/%zz")).status == 400)
        #expect(await router.respond(to: request("GET", "/v1/sessions/%C3")).status == 400, "not UTF-8")
        #expect(await router.respond(to: request("GET", "http://x/v1/sessions/abc")).status == 400)
        #expect(await router.respond(to: request("POST", "/api/oicp/notificationmgmt/v11/charging-notifications")).status == 200)
    }

    @Test("percent-decoding to a NUL or to bytes that are not UTF-8 is 400 naming the problem", arguments: [
        ("/v1/sessions/abc%00", "NUL"),
        ("/v1/evses/DE*A36/errors?operator_id=DE%00", "NUL"),
        ("/v1/evses/DE*A36/errors?%00=1", "NUL"),
        ("/v1/sessions/%C3", "not UTF-8"),  // truncated
        ("/v1/sessions/%C0%AF", "not UTF-8"),  // overlong '/'
        ("/v1/sessions/%ED%A0%80", "not UTF-8"),  // a surrogate
        ("/v1/sessions/%FF", "not UTF-8"),
        ("/v1/evses/DE*A36/errors?limit=%E2%82", "not UTF-8"),
        ("/v1/sessions/%4", "malformed percent-escape"),
    ])
    func decodingProblems(_ case: (target: String, problem: String)) async {
        let response = await router.respond(to: request("GET", `case`.target))
        #expect(response.status == 400, "\(`case`.target)")
        #expect(body(response).contains(`case`.problem), "\(`case`.target): \(body(response))")
        #expect(RequestTarget(`case`.target) == nil)
        #expect(throws: HTTPParseError.self) { try RequestTarget(validating: `case`.target) }
    }

    @Test("query parsing: '+' is a space, names repeat, empty values and pairs")
    func query() throws {
        let target = try #require(RequestTarget("/x?a=1+2&b=&a=3&&c"))
        #expect(target.values("a") == ["1 2", "3"])
        #expect(target["b"] == "")
        #expect(target["c"] == "")
        #expect(RequestTarget("/x?a=%2") == nil)
    }

    @Test("a segment with nothing to decode is taken as written; '+' is a space only in the query; errors name the parameter")
    func plainSegments() throws {
        let target = try #require(RequestTarget("/v1/evses/DE*A36+E1*1/errors?limit=10&from=a+b&type=%2B"))
        #expect(target.segments == ["v1", "evses", "DE*A36+E1*1", "errors"])
        #expect(target.query.map(\.name) == ["limit", "from", "type"])
        #expect(target.query.map(\.value) == ["10", "a b", "+"])
        #expect(throws: HTTPParseError(400, "a malformed percent-escape in the query parameter cursor")) {
            try RequestTarget(validating: "/x?cursor=%G1")
        }
    }
}
