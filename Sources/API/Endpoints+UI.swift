import HTTPServer

/// `/ui`: the fault-history page and its two assets. No token is needed to fetch them (they hold
/// no data); the page then reads the API with the token its user enters. The headers fence it
/// in: its own script and style only, requests to this origin only, no framing, no referrer,
/// no content sniffing.
extension Endpoints {
    static let uiHeaders: [(String, String)] = [
        (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
                + "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        // Revalidated on every load: a new version's page never runs an old script.
        ("Cache-Control", "no-cache"),
    ]

    func uiAsset(_ match: RouteMatch) throws -> HTTPResponse {
        _ = try QueryParameters(match.target, allowed: [])
        let (type, text): (String, String) =
            switch match.pattern {
            case "/ui/app.js": ("text/javascript; charset=utf-8", UIAssets.script)
            case "/ui/app.css": ("text/css; charset=utf-8", UIAssets.styleSheet)
            default: ("text/html; charset=utf-8", UIAssets.page)
            }
        return HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", type)] + Self.uiHeaders), body: .bytes(Array(text.utf8)))
    }
}
