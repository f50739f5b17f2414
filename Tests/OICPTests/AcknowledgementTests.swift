import Foundation
import JSON
import OICP
import Testing

@Suite("eRoamingAcknowledgement, StatusCode and CodeType (REFERENCE §2)")
struct AcknowledgementTests {
    private func json(_ value: some Encodable) throws -> JSONObject {
        let encoder = JSONEncoder()
        let parsed = try JSONParser.parse(Array(try encoder.encode(value)), maxDepth: 8, maxBytes: 1 << 20)
        return try #require(parsed.objectValue)
    }

    @Test("all 31 codes of §2.2 are present with their descriptions")
    func codeTypes() {
        let codes = [
            "000", "001", "002", "009", "017", "018", "019", "021", "022", "101", "102", "103", "105", "106", "110",
            "120", "121", "122", "200", "210", "300", "310", "320", "400", "501", "510", "601", "602", "603", "604",
            "700",
        ]
        #expect(CodeType.allCases.count == 31)
        #expect(CodeType.allCases.map(\.rawValue) == codes)
        #expect(CodeType.success.rawValue == "000" && CodeType.hubjectSystemError.rawValue == "001")
        #expect(CodeType.dataError.summary == "Data error.")
        #expect(
            CodeType.qrCodeAuthenticationFailedInvalidCredentials.summary
                == "QR Code Authentication failed – Invalid Credentials.")
        #expect(CodeType.plcAuthenticationFailedInvalidEvcoID.summary == "PLC Authentication failed - invalid EvcoID.")
        #expect(CodeType.evseAlreadyInUseWrongToken.summary == "EVSE already in use/ wrong token.")
        #expect(Set(CodeType.allCases.map(\.summary)).count == 31)
    }

    @Test("accepted() echoes the session IDs with 000 Success")
    func accepted() throws {
        let validated = try #require(NotificationValidator().validate(try Examples.bytes("start.json")).validated)
        var notification = validated.notification
        notification.empPartnerSessionID = "emp-1"
        let ack = Acknowledgement.accepted(notification)
        #expect(ack.result)
        #expect(ack.statusCode == StatusCode(code: "000", description: "Success"))
        #expect(ack.statusCode.codeType == .success)
        #expect(ack.sessionID == "3fe7378a-238f-4cf3-bca6-de657881f8c2")
        #expect(ack.cpoPartnerSessionID == "cpo-tx-2024-05-14-000417")
        #expect(ack.empPartnerSessionID == "emp-1")
        let object = try json(ack)
        #expect(
            Set(object.keys) == ["Result", "StatusCode", "SessionID", "CPOPartnerSessionID", "EMPPartnerSessionID"])
        #expect(object["StatusCode"]?.objectValue.map { Set($0.keys) } == ["Code", "Description"])
        #expect(object["Result"] == .bool(true))
    }

    @Test("decoding treats explicit nulls as absent; encoding omits nil")
    func nulls() throws {
        let body = """
            {"Result":true,"StatusCode":{"Code":"000","Description":null,"AdditionalInfo":null},\
            "SessionID":null,"CPOPartnerSessionID":null,"EMPPartnerSessionID":null}
            """
        let ack = try JSONDecoder().decode(Acknowledgement.self, from: Data(body.utf8))
        #expect(ack == Acknowledgement(result: true, statusCode: StatusCode(.success)))
        let object = try json(ack)
        #expect(Set(object.keys) == ["Result", "StatusCode"])
        #expect(object["StatusCode"] == .o([("Code", .s("000"))]))
    }

    @Test("the OAS example round-trips")
    func oasExample() throws {
        let body = """
            {"Result":true,"StatusCode":{"AdditionalInfo":"Success","Code":"000","Description":"Success"},\
            "SessionID":"f98efba4-02d8-4fa0-b810-9a9d50d2c527","CPOPartnerSessionID":"1234XYZ","EMPPartnerSessionID":"2345ABC"}
            """
        let ack = try JSONDecoder().decode(Acknowledgement.self, from: Data(body.utf8))
        #expect(ack.statusCode.additionalInfo == "Success")
        #expect(ack.empPartnerSessionID == "2345ABC")
        #expect(try JSONDecoder().decode(Acknowledgement.self, from: JSONEncoder().encode(ack)) == ack)
    }

    @Test("serialized() writes the spec's key order, escapes, leaves absent fields out, and decodes back")
    func serializedOrder() throws {
        let ack = Acknowledgement(
            result: false, statusCode: StatusCode(.dataError, description: "Data error", additionalInfo: "/EvseID: \"x\" is bad"),
            sessionID: "f98efba4-02d8-4fa0-b810-9a9d50d2c527", empPartnerSessionID: "2345ABC"
        )
        let text = ack.serialized()
        #expect(
            text == #"{"Result":false,"StatusCode":{"Code":"022","Description":"Data error","AdditionalInfo":"/EvseID: \"x\" is bad"},"#
                + #""SessionID":"f98efba4-02d8-4fa0-b810-9a9d50d2c527","EMPPartnerSessionID":"2345ABC"}"#
        )
        #expect(try JSONDecoder().decode(Acknowledgement.self, from: Data(text.utf8)) == ack)
    }

    @Test("an unknown status code survives decoding and encoding")
    func unknownCode() throws {
        let body = #"{"Result":false,"StatusCode":{"Code":"999","Description":"Partner specific"}}"#
        let ack = try JSONDecoder().decode(Acknowledgement.self, from: Data(body.utf8))
        #expect(ack.statusCode.code == "999")
        #expect(ack.statusCode.codeType == nil)
        #expect(try json(ack)["StatusCode"]?["Code"] == .s("999"))
        let numeric = try JSONDecoder().decode(StatusCode.self, from: Data(#"{"Code":22}"#.utf8))
        #expect(numeric.code == "022" && numeric.codeType == .dataError)
    }

    @Test("Hubject's HTTP 500 body without Result decodes as a negative acknowledgement")
    func missingResult() throws {
        let body =
            #"{"StatusCode":{"Code":"001","Description":"Unexpected error checking partners: null","AdditionalInfo":null}}"#
        let ack = try JSONDecoder().decode(Acknowledgement.self, from: Data(body.utf8))
        #expect(!ack.result)
        #expect(ack.statusCode.codeType == .hubjectSystemError)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Acknowledgement.self, from: Data(#"{"Result":true}"#.utf8))
        }
    }

    @Test("rejected() lists every problem for the invalid example")
    func rejectedExample() throws {
        let result = NotificationValidator().validate(try Examples.bytes("invalid-error.json"))
        guard case .failure(let failure) = result else {
            Issue.record("expected a failure")
            return
        }
        let ack = Acknowledgement.rejected(failure, sessionID: "8d571ee6-bb6f-4b1b-b82a-318c8866b4d")
        #expect(!ack.result)
        #expect(ack.statusCode.code == "022")
        #expect(ack.statusCode.description == "Data error")
        #expect(ack.sessionID == nil, "an invalid SessionID is not echoed")
        let info = try #require(ack.statusCode.additionalInfo)
        #expect(info.utf16.count <= 1000)
        #expect(info.hasPrefix(failure.problems[0].pointer + ": "))
        #expect(info.contains("/ErrorType: ErrorType must be"))
        let valid = Acknowledgement.rejected(failure, sessionID: "8d571ee6-bb6f-4b1b-b82a-318c8866b4d0")
        #expect(valid.sessionID == "8d571ee6-bb6f-4b1b-b82a-318c8866b4d0")
    }

    @Test("rejected() truncates AdditionalInfo to 1000 characters with a count marker")
    func rejectedTruncation() throws {
        let problems = (0..<60).map {
            ValidationProblem(
                pointer: "/MeterValueInBetween/meterValues/\($0)", message: "must be a number, got string")
        }
        let ack = Acknowledgement.rejected(ValidationFailure(problems: problems), sessionID: nil)
        let info = try #require(ack.statusCode.additionalInfo)
        #expect(info.utf16.count <= 1000)
        #expect(info.utf16.count > 900)
        let shown = info.components(separatedBy: "; ").filter { $0.hasPrefix("/") }.count
        #expect(info.hasSuffix("… (\(60 - shown) more)"))
        #expect(info.hasPrefix("/MeterValueInBetween/meterValues/0: must be a number, got string; "))
        #expect((ack.statusCode.description ?? "").count <= 200)

        // Everything fits: no marker.
        let few = Acknowledgement.rejected(ValidationFailure(problems: Array(problems.prefix(3))), sessionID: nil)
        #expect(few.statusCode.additionalInfo?.contains("more)") == false)
        #expect(few.statusCode.additionalInfo?.components(separatedBy: "; ").count == 3)

        // One enormous problem (a long pointer) is cut, never exceeding the limit.
        let huge = ValidationProblem(pointer: "/" + String(repeating: "😀", count: 3000), message: "duplicate")
        let hugeInfo = try #require(
            Acknowledgement.rejected(ValidationFailure(problems: [huge, problems[0]]), sessionID: nil).statusCode
                .additionalInfo)
        #expect(hugeInfo.utf16.count <= 1000)
        #expect(hugeInfo.hasSuffix("… (1 more)"))
        let whole = ValidationProblem(pointer: "", message: String(repeating: "x", count: 5000))
        let wholeInfo = try #require(
            Acknowledgement.rejected(ValidationFailure(problems: [whole]), sessionID: nil).statusCode.additionalInfo)
        #expect(wholeInfo.utf16.count <= 1000 && wholeInfo.hasSuffix("…"))
    }
}
