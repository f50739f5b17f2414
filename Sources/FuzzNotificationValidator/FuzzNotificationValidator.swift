import FuzzSupport
import JSON
import OICP

// libFuzzer target for the OICP side of ingestion (deploy/fuzz oicp): `JSONParser` (and the
// `JSONScanner` under it) and `NotificationValidator`, on raw request bodies. The checks, beyond
// "does not crash":
// - a parsed document serializes to text that parses back to an equal value, and serializing
//   that again gives the same bytes;
// - the validator accepts only what the parser accepts, keeps the parsed body, and judges the
//   serialized body exactly as it judged the original (validation depends on the value only);
// - the acknowledgements built from either outcome serialize to JSON that parses, and a
//   refusal's AdditionalInfo stays within StatusCodeType's 1000 UTF-16 code units;
// - small limits (depth, size, problem count) are enforced, not exceeded.

private let validator = NotificationValidator()
private let tight = NotificationValidator(limits: .init(maxBodyBytes: 1024, maxDepth: 3, maxProblems: 2))

private func parse(_ bytes: [UInt8], maxDepth: Int = 16, maxBytes: Int = 65_536) -> JSONValue? {
    do throws(JSONParseError) {
        return try JSONParser.parse(bytes, maxDepth: maxDepth, maxBytes: maxBytes)
    } catch {
        require(!error.description.isEmpty, "an empty JSONParseError description")
        return nil
    }
}

/// The acknowledgement the ingest endpoint would answer, checked to be JSON within the limits.
private func checkAcknowledgement(_ result: Result<ValidatedNotification, ValidationFailure>, body: JSONValue?) {
    let acknowledgement: Acknowledgement
    switch result {
    case .success(let validated):
        acknowledgement = .accepted(validated.notification)
        require(acknowledgement.result, "accepted yet Result false")
    case .failure(let failure):
        require(!failure.problems.isEmpty, "a failure without problems")
        acknowledgement = .rejected(failure, sessionID: body?["SessionID"]?.stringValue)
        let info = acknowledgement.statusCode.additionalInfo ?? ""
        require(
            info.utf16.count <= StatusCode.maxAdditionalInfoLength, "AdditionalInfo of \(info.utf16.count) UTF-16 units"
        )
    }
    let text = Array(acknowledgement.serialized().utf8)
    require(
        parse(text, maxBytes: Int.max) != nil,
        "an acknowledgement that is not JSON: \(String(decoding: text, as: UTF8.self))")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    let body = parse(input)
    var serialized: [UInt8] = []
    if let body {
        serialized = Array(body.serialized().utf8)
        require(serialized.count <= input.count, "serializing grew \(input.count) bytes to \(serialized.count)")
        guard let again = parse(serialized, maxBytes: Int.max) else {
            fatalError("the serialized document does not parse: \(String(decoding: serialized, as: UTF8.self))")
        }
        require(again == body, "the serialized document parses to another value")
        require(Array(again.serialized().utf8) == serialized, "serializing is not stable")
    }

    let result = validator.validate(input)
    switch result {
    case .success(let validated):
        require(body == validated.body, "accepted a body the parser refuses, or kept another body")
        require(
            validated.notification.sessionID == body?["SessionID"]?.stringValue, "SessionID differs from the body's")
    case .failure(let failure):
        require(failure.problems.count <= validator.limits.maxProblems + 1, "\(failure.problems.count) problems listed")
    }
    if body != nil {
        // The validator sees values, not text: the compact form must be judged the same.
        let reserialized = validator.validate(serialized)
        switch (result, reserialized) {
        case (.success(let a), .success(let b)):
            require(
                a.notification == b.notification && a.anomalies == b.anomalies,
                "the serialized body decodes differently")
        case (.failure(let a), .failure(let b)):
            require(a == b, "the serialized body fails differently: \(a) / \(b)")
        default:
            require(false, "the serialized body is judged differently: \(result) / \(reserialized)")
        }
    }
    checkAcknowledgement(result, body: body)

    let tightResult = tight.validate(input)
    switch tightResult {
    case .success(let validated):
        require(input.count <= 1024, "accepted \(input.count) bytes over the 1024-byte limit")
        require(
            validated.notification == (try? result.get())?.notification,
            "tight limits accepted what default limits refused")
    case .failure(let failure):
        require(failure.problems.count <= 3, "\(failure.problems.count) problems listed with maxProblems 2")
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
