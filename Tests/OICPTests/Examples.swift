import Foundation
import JSON
import OICP

/// The OICP example bodies in `Tests/fixtures/oicp`.
enum Examples {
    /// `<repo>/Tests/fixtures/oicp`, found by walking up from this file to `Tests/`.
    static let directory: URL = {
        var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        while url.lastPathComponent != "Tests", url.path != "/" {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent("fixtures/oicp")
    }()

    static let valid = ["start.json", "progress.json", "end.json", "error.json"]
    static let all = valid + ["invalid-error.json"]

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func object(_ name: String) throws -> JSONObject {
        let value = try JSONParser.parse(try bytes(name), maxDepth: 16, maxBytes: 65_536)
        guard case .object(let object) = value else { throw ExampleError.notAnObject(name) }
        return object
    }

    /// Validates an example after setting (or, with `nil`, removing) some top-level members.
    static func validate(_ name: String, _ edits: [(String, JSONValue?)] = []) throws -> Result<
        ValidatedNotification, ValidationFailure
    > {
        var object = try object(name)
        for (key, value) in edits { object[key] = value }
        return validate(object)
    }

    static func validate(_ object: JSONObject) -> Result<ValidatedNotification, ValidationFailure> {
        NotificationValidator().validate(Array(JSONValue.object(object).serialized().utf8))
    }

    static func validate(_ text: String) -> Result<ValidatedNotification, ValidationFailure> {
        NotificationValidator().validate(Array(text.utf8))
    }

    enum ExampleError: Error {
        case notAnObject(String)
    }
}

extension Result where Success == ValidatedNotification, Failure == ValidationFailure {
    /// The accepted notification, or `nil`.
    var validated: ValidatedNotification? {
        if case .success(let value) = self { return value }
        return nil
    }

    /// The problems, or `[]` when accepted.
    var problems: [ValidationProblem] {
        if case .failure(let failure) = self { return failure.problems }
        return []
    }

    /// The problems at `pointer`.
    func problems(at pointer: String) -> [ValidationProblem] {
        problems.filter { $0.pointer == pointer }
    }

    /// Anomaly codes of an accepted notification.
    var anomalyCodes: [String] {
        validated?.anomalies.map(\.code) ?? []
    }
}

/// Shorthands for building JSON values in tests.
extension JSONValue {
    static func s(_ text: String) -> JSONValue { .string(text) }
    static func n(_ text: String) -> JSONValue { .number(text) }
    static func o(_ entries: [(String, JSONValue)]) -> JSONValue {
        .object(JSONObject(entries.map { (key: $0.0, value: $0.1) }))
    }
}
