import Foundation
import JSON
import Ledger
import OICP
import Testing

/// Request bodies from `Tests/fixtures/oicp/*.json`: one session (Start → Progress → End) and
/// one Error for another session.
enum Body {
    static let sessionID = "3fe7378a-238f-4cf3-bca6-de657881f8c2"
    static let errorSessionID = "8d571ee6-bb6f-4b1b-b82a-318c8866b4d0"
    /// A second well-formed SessionID, for "different session" cases.
    static let otherSessionID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

    static let start = example("start")
    static let progress = example("progress")
    static let end = example("end")
    static let error = example("error")

    /// `Tests/fixtures/oicp/<name>.json`, found by walking up from this file to `Tests/`: the
    /// project's reference bodies, read rather than copied so they cannot drift apart.
    static func example(_ name: String) -> String {
        var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        while url.lastPathComponent != "Tests", url.path != "/" { url.deleteLastPathComponent() }
        let file = url.appendingPathComponent("fixtures/oicp/\(name).json")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else {
            fatalError("cannot read \(file.path)")
        }
        return text
    }

    /// The example body of `type`.
    static func of(_ type: NotificationType) -> String {
        switch type {
        case .start: start
        case .progress: progress
        case .end: end
        case .error: error
        }
    }

    /// `body` with each `(old, new)` text replaced; records an issue when `old` does not occur,
    /// so a fixture edit can never silently do nothing.
    static func editing(
        _ body: String, _ edits: [(String, String)], sourceLocation: SourceLocation = #_sourceLocation
    ) -> String {
        var result = body
        for (old, new) in edits {
            if !result.contains(old) {
                Issue.record("fixture text \(old) not found", sourceLocation: sourceLocation)
            }
            result = result.replacingOccurrences(of: old, with: new)
        }
        return result
    }

    /// `body` with the string member `field` set to `value`; records an issue when `body` has no
    /// such member.
    static func setting(
        _ field: String, to value: String, in body: String, sourceLocation: SourceLocation = #_sourceLocation
    ) -> String {
        guard let name = body.range(of: "\"\(field)\": \""),
            let close = body[name.upperBound...].firstIndex(of: "\"")
        else {
            Issue.record("fixture has no string member \(field)", sourceLocation: sourceLocation)
            return body
        }
        return body.replacingCharacters(in: name.upperBound..<close, with: value)
    }
}

/// Validates `json` and requires it to be accepted.
func validated(_ json: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ValidatedNotification {
    let result = NotificationValidator().validate(Array(json.utf8))
    return try #require(
        try? result.get(), "fixture body was refused: \(String(describing: result))", sourceLocation: sourceLocation)
}

/// The example notification of `type`, validated.
func notification(_ type: NotificationType, sourceLocation: SourceLocation = #_sourceLocation) throws
    -> ValidatedNotification
{
    try validated(Body.of(type), sourceLocation: sourceLocation)
}

/// The instant an RFC 3339 text names (parsed by OICP's `Timestamp`, not by the code under test).
func instant(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Date {
    let timestamp = try #require(Timestamp(text), "not an RFC 3339 timestamp: \(text)", sourceLocation: sourceLocation)
    return Date(timeIntervalSince1970: Double(timestamp.epochMilliseconds) / 1000)
}

/// 2026-11-27T10:00:00.250Z (exactly representable as a `Double`).
let receivedAt = Date(timeIntervalSince1970: 1_795_773_600.25)

func context(
    receivedAt: Date = receivedAt, client: String = "cpo-token-1", idempotencyKey: String? = nil,
    requestID: String? = nil, source: String = "http"
) -> IngestContext {
    IngestContext(
        receivedAt: receivedAt, client: client, idempotencyKey: idempotencyKey, requestID: requestID, source: source)
}

/// Parses JSON text written by the ledger with OICP's strict parser.
func parseJSON(_ text: String) throws -> JSONValue {
    try JSONParser.parse(Array(text.utf8), maxDepth: 32, maxBytes: 1 << 20)
}

/// Parses JSON text and requires an object.
func parseObject(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONObject {
    try #require(try parseJSON(text).objectValue, "not a JSON object: \(text)", sourceLocation: sourceLocation)
}

/// The lifecycle after the given notifications were recorded, in order.
func lifecycle(after types: [NotificationType]) -> SessionLifecycle {
    SessionLifecycle.fold(types.map { LedgerEventType(recording: $0).rawValue })
}

extension UUID {
    /// The RFC 9562 version nibble (the high four bits of octet 6).
    var versionNibble: UInt8 { uuid.6 >> 4 }
    /// The RFC 9562 variant bits (the high two bits of octet 8).
    var variantBits: UInt8 { uuid.8 >> 6 }
}
