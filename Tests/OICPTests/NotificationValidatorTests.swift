import Foundation
import JSON
import OICP
import Testing

@Suite("NotificationValidator: body and field rules")
struct NotificationValidatorTests {
    // MARK: Body

    @Test("malformed JSON gives one problem at \"\" with the byte offset")
    func malformedJSON() {
        let result = Examples.validate(#"{"Type": "Start",, }"#)
        #expect(result.problems.count == 1)
        #expect(result.problems.first?.pointer == "")
        #expect(result.problems.first?.message.contains("byte 17") == true)
    }

    @Test("non-UTF-8 bytes are reported with their offset")
    func invalidUTF8() {
        let bytes = Array(#"{"Type":"St"#.utf8) + [0xC3, 0x28] + Array(#"art"}"#.utf8)
        let result = NotificationValidator().validate(bytes)
        #expect(result.problems.count == 1)
        #expect(result.problems.first?.pointer == "")
        #expect(result.problems.first?.message.contains("UTF-8") == true)
        #expect(result.problems.first?.message.contains("byte 12") == true)
    }

    @Test("the body must be a JSON object", arguments: ["[]", "\"Start\"", "42", "null"])
    func notAnObject(text: String) {
        let result = Examples.validate(text)
        #expect(result.problems.map(\.pointer) == [""])
        #expect(result.problems.first?.message.contains("must be a JSON object") == true)
    }

    @Test("a 10 MB string is a clean body-limit error")
    func tenMegabytes() {
        var bytes = Array(#"{"Type":"Start","SessionID":""#.utf8)
        bytes += Array(repeating: UInt8(ascii: "a"), count: 10 * 1024 * 1024)
        bytes += Array(#""}"#.utf8)
        let result = NotificationValidator().validate(bytes)
        #expect(result.problems.count == 1)
        #expect(result.problems.first?.pointer == "")
        #expect(result.problems.first?.message.contains("limit is 65536 bytes") == true)
    }

    @Test("a long string within the limits is reported without being echoed whole")
    func longStringTruncated() throws {
        let long = String(repeating: "x", count: 30_000)
        let result = try Examples.validate("start.json", [("SessionID", .s(long)), ("PartnerProductID", .s(long))])
        let sessionID = try #require(result.problems(at: "/SessionID").first)
        #expect(sessionID.message.count < 400)
        #expect(sessionID.message.contains("…\" (30000 characters)"))
        let product = try #require(result.problems(at: "/PartnerProductID").first)
        #expect(product.message.contains("30000") && product.message.contains("limit is 50"))
        #expect(product.message.count < 200)
    }

    @Test("deep nesting is refused at maxDepth")
    func deepNesting() {
        let deep =
            #"{"Type":"Start","X":"# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"
        let result = Examples.validate(deep)
        #expect(result.problems.count == 1)
        #expect(result.problems.first?.pointer == "/X" + String(repeating: "/0", count: 15))
        #expect(result.problems.first?.message.contains("deeper than 16") == true)
        let custom = NotificationValidator(limits: .init(maxDepth: 2)).validate(Array(#"{"a":{"b":{}}}"#.utf8))
        #expect(custom.problems.map(\.pointer) == ["/a/b"])
    }

    @Test("duplicate keys are rejected")
    func duplicateKeys() throws {
        let text = String(decoding: try Examples.bytes("start.json"), as: UTF8.self)
            .replacingOccurrences(
                of: #""OperatorID": "DE*A36","#, with: #""OperatorID": "DE*A36", "OperatorID": "DE*B12","#)
        let result = Examples.validate(text)
        #expect(result.problems.count == 1)
        #expect(result.problems.first?.pointer == "/OperatorID")
        #expect(result.problems.first?.message.contains("duplicate") == true)
    }

    // MARK: Type dispatch

    @Test(
        "Type missing, not a string or unknown is reported at /Type with the allowed values",
        arguments: [nil, JSONValue.null, .n("1"), .s("start"), .s("Stop")] as [JSONValue?])
    func badType(value: JSONValue?) throws {
        let result = try Examples.validate("start.json", [("Type", value)])
        let problem = try #require(result.problems(at: "/Type").first)
        #expect(problem.message.contains(#""Start", "Progress", "End" or "Error""#))
        // Fields common to all types are still checked.
        let again = try Examples.validate("start.json", [("Type", value), ("SessionID", .s("nope"))])
        #expect(again.problems(at: "/SessionID").count == 1)
    }

    @Test(
        "mandatory fields per type",
        arguments: [
            ("start.json", ["SessionID", "EvseID", "ChargingStart", "OperatorID"]),
            ("progress.json", ["SessionID", "EvseID", "ChargingStart", "EventOccurred", "OperatorID"]),
            ("end.json", ["SessionID", "EvseID", "ChargingEnd", "OperatorID"]),
            ("error.json", ["SessionID", "EvseID", "ErrorType", "OperatorID"]),
        ])
    func mandatoryFields(name: String, fields: [String]) throws {
        for field in fields {
            let result = try Examples.validate(name, [(field, nil)])
            #expect(result.problems.map(\.pointer) == ["/" + field], "\(name) without \(field)")
            #expect(result.problems.first?.message.contains("\(field) is required") == true)
        }
    }

    @Test("ChargingStart is optional in End (REFERENCE §7.17)")
    func chargingStartOptionalInEnd() throws {
        let result = try Examples.validate("end.json", [("ChargingStart", nil)])
        #expect(result.validated?.notification.chargingStart == nil)
        #expect(result.problems == [])
    }

    @Test("a field of another type is an unknown property: kept, not checked")
    func fieldOfOtherTypeKept() throws {
        let result = try Examples.validate(
            "start.json",
            [("ErrorType", .s("Connector Error")), ("ChargingEnd", .s("garbage")), ("Vendor", .o([("x", .array([]))]))])
        let validated = try #require(result.validated)
        #expect(validated.notification.errorType == nil)
        #expect(validated.notification.chargingEnd == nil)
        #expect(validated.body["ErrorType"] == .s("Connector Error"))
        #expect(validated.body["Vendor"]?["x"] == .array([]))
        // Identification keeps unknown members too.
        let nested = try Examples.validate(
            "start.json",
            [
                (
                    "Identification",
                    .o([("RFIDMifareFamilyIdentification", .o([("UID", .s("044A2DAA"))])), ("Note", .s("x"))])
                )
            ])
        #expect(nested.validated?.notification.identification == .rfidMifareFamily(uid: "044A2DAA"))
    }

    // MARK: JSON types and null

    @Test(
        "a wrong JSON type is reported as such",
        arguments: [
            ("SessionID", JSONValue.n("123"), "SessionID must be a string, got number"),
            ("CPOPartnerSessionID", .bool(true), "CPOPartnerSessionID must be a string, got boolean"),
            ("ChargingStart", .n("1715671930"), "ChargingStart must be a date-time string"),
            ("MeterValueStart", .s("12345.678"), "MeterValueStart must be a number"),
            ("Identification", .array([]), "Identification must be an object"),
        ])
    func wrongType(field: String, value: JSONValue, message: String) throws {
        let result = try Examples.validate("start.json", [(field, value)])
        #expect(result.problems.count == 1)
        #expect(result.problems(at: "/" + field).first?.message.hasPrefix(message) == true)
    }

    @Test("null means absent for optional fields and missing for mandatory ones")
    func nullHandling() throws {
        let optional = try Examples.validate(
            "start.json", [("CPOPartnerSessionID", .null), ("Identification", .null), ("MeterValueStart", .null)])
        let validated = try #require(optional.validated)
        #expect(validated.notification.cpoPartnerSessionID == nil)
        #expect(validated.notification.identification == nil)
        #expect(validated.notification.meterValueStart == nil)
        #expect(validated.body["Identification"] == .null)

        let mandatory = try Examples.validate("start.json", [("EvseID", .null)])
        #expect(mandatory.problems.map(\.pointer) == ["/EvseID"])
        #expect(mandatory.problems.first?.message.contains("null counts as missing") == true)

        let nestedNull = try Examples.validate(
            "start.json", [("Identification", .o([("RFIDMifareFamilyIdentification", .o([("UID", .null)]))]))])
        #expect(nestedNull.problems.map(\.pointer) == ["/Identification/RFIDMifareFamilyIdentification/UID"])
    }

    // MARK: Lengths

    @Test(
        "string length limits, counted in UTF-16 code units",
        arguments: [
            ("start.json", "CPOPartnerSessionID", 250),
            ("start.json", "EMPPartnerSessionID", 250),
            ("start.json", "PartnerProductID", 50),
            ("error.json", "ErrorAdditionalInfo", 250),
        ])
    func lengths(name: String, field: String, limit: Int) throws {
        #expect(try Examples.validate(name, [(field, .s(String(repeating: "a", count: limit)))]).problems == [])
        let over = try Examples.validate(name, [(field, .s(String(repeating: "a", count: limit + 1)))])
        #expect(over.problems.map(\.pointer) == ["/" + field])
        // 😀 is one Character but two UTF-16 code units.
        let emoji = String(repeating: "😀", count: limit / 2) + "a"
        #expect(try Examples.validate(name, [(field, .s(emoji))]).problems.map(\.pointer) == ["/" + field])
        #expect(try Examples.validate(name, [(field, .s(String(repeating: "é", count: limit)))]).problems == [])
    }

    // MARK: ErrorType

    @Test(
        "ErrorType values and the known typo",
        arguments: [
            (
                "Connector Error",
                #"ErrorType must be "ConnectorError" or "CriticalError"; "Connector Error" is a known typo in the CPO data-types chapter"#
            ),
            (
                "Critical Error",
                #"ErrorType must be "ConnectorError" or "CriticalError"; "Critical Error" is a known typo in the CPO data-types chapter"#
            ),
            ("connectorError", #"ErrorType must be "ConnectorError" or "CriticalError"; got "connectorError""#),
        ])
    func errorType(value: String, message: String) throws {
        let result = try Examples.validate("error.json", [("ErrorType", .s(value))])
        #expect(result.problems.map(\.message) == [message])
        #expect(result.problems.first?.pointer == "/ErrorType")
        let ok = try Examples.validate("error.json", [("ErrorType", .s("ConnectorError"))])
        #expect(ok.validated?.notification.errorType == .connectorError)
    }

    // MARK: Timestamps

    @Test(
        "timestamp rules",
        arguments: [
            ("2024-05-14T09:32:10+02:00", nil),
            ("2024-05-14T09:32:10Z", nil),
            ("2024-05-14t09:32:10.038z", nil),
            ("2024-05-14T09:32:10.123456789-05:30", nil),
            ("2024-02-29T00:00:00+01:00", nil),
            ("2016-12-31T23:59:60Z", nil),
            ("2024-05-14T09:32:10", "no UTC offset; OICP requires the charge point's UTC offset"),
            ("2024-02-30T10:00:00+01:00", "day 30, which does not exist in February 2024"),
            ("2023-02-29T10:00:00+01:00", "day 29, which does not exist in February 2023"),
            ("2024-04-31T10:00:00+01:00", "day 31, which does not exist in April 2024"),
            ("2024-13-01T10:00:00+01:00", "month 13"),
            ("2024-05-14T24:00:00+02:00", "hour 24"),
            ("2024-05-14T09:60:00+02:00", "minute 60"),
            ("2024-05-14T09:32:61+02:00", "second 61"),
            ("2024-05-14T09:32:10.1234567891+02:00", "10 fraction digits"),
            ("2024-05-14T09:32:10.+02:00", "not an RFC 3339 date-time"),
            ("2024-05-14 09:32:10+02:00", "not a space"),
            ("2024-05-14T09:32:10+0200", "±hh:mm"),
            ("2024-05-14T09:32:10+24:00", "out-of-range UTC offset"),
            ("14.05.2024 09:32", "not an RFC 3339 date-time"),
        ] as [(String, String?)])
    func timestamps(text: String, expected: String?) throws {
        let result = try Examples.validate("start.json", [("ChargingStart", .s(text))])
        if let expected {
            let problem = try #require(result.problems(at: "/ChargingStart").first)
            #expect(problem.message.contains(expected), "\(problem.message)")
            #expect(result.problems.count == 1)
        } else {
            #expect(result.problems == [])
            #expect(result.validated?.notification.chargingStart?.text == text)
        }
    }

    @Test("timestamp instants and offsets")
    func timestampValues() throws {
        #expect(Timestamp("2020-09-23T14:17:53.038Z")?.epochMilliseconds == 1_600_870_673_038)
        #expect(Timestamp("1969-12-31T23:59:59.999Z")?.epochMilliseconds == -1)
        #expect(Timestamp("2024-05-14T09:32:10+02:00")?.utcOffsetSeconds == 7200)
        #expect(Timestamp("2024-05-14T02:02:10-05:30")?.epochMilliseconds == 1_715_671_930_000)
        #expect(
            Timestamp("2016-12-31T23:59:60Z")?.epochMilliseconds
                == Timestamp("2016-12-31T23:59:59.999Z")?.epochMilliseconds)
        #expect(Timestamp("2024-05-14T09:32:10") == nil)
        let formatted = Timestamp(epochMilliseconds: 1_715_671_930_250, utcOffsetSeconds: 7200)
        #expect(formatted.text == "2024-05-14T09:32:10.250+02:00")
        #expect(Timestamp(formatted.text) == formatted)
        #expect(Timestamp(epochMilliseconds: -1).text == "1969-12-31T23:59:59.999+00:00")
    }

    @Test("Timestamp is Codable as its text")
    func timestampCodable() throws {
        let timestamp = try #require(Timestamp("2024-05-14T09:32:10+02:00"))
        let data = try JSONEncoder().encode([timestamp])
        #expect(String(decoding: data, as: UTF8.self) == #"["2024-05-14T09:32:10+02:00"]"#)
        #expect(try JSONDecoder().decode([Timestamp].self, from: data) == [timestamp])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([Timestamp].self, from: Data(#"["2024-05-14"]"#.utf8))
        }
    }

    // MARK: Numbers

    @Test(
        "Decimal (,3) values",
        arguments: [
            ("12345.678", 12_345_678 as Int64?, nil as String?),
            ("0", 0, nil),
            ("-0.5", -500, nil),
            ("1.2340", 1234, nil),
            ("2.2253e1", 22_253, nil),
            ("1E3", 1_000_000, nil),
            ("0.001", 1, nil),
            ("1.2345", nil, "has 4 fraction digits; at most 3"),
            ("12345e-4", nil, "has 4 fraction digits"),
            ("0.0001", nil, "has 4 fraction digits"),
            ("1e30", nil, "out of range"),
            ("9223372036854775.808", nil, "out of range"),
            ("1e99999999999999999999", nil, "out of range"),
        ])
    func decimals(literal: String, thousandths: Int64?, message: String?) throws {
        let result = try Examples.validate("start.json", [("MeterValueStart", .n(literal))])
        if let thousandths {
            #expect(result.validated?.notification.meterValueStart?.thousandths == thousandths)
        } else {
            let problem = try #require(result.problems(at: "/MeterValueStart").first)
            #expect(problem.message.contains(message!), "\(problem.message)")
        }
    }

    @Test(
        "ChargingDuration is a whole number of milliseconds that fits Int64",
        arguments: [
            ("900000", 900_000 as Int64?),
            ("9e5", 900_000),
            ("900000.0", 900_000),
            ("9223372036854775807", Int64.max),
            ("1.5", nil),
            ("9223372036854775808", nil),
        ])
    func chargingDuration(literal: String, value: Int64?) throws {
        let result = try Examples.validate("progress.json", [("ChargingDuration", .n(literal))])
        if let value {
            #expect(result.validated?.notification.chargingDuration == value)
        } else {
            #expect(result.problems.map(\.pointer) == ["/ChargingDuration"])
        }
        let text = try Examples.validate("progress.json", [("ChargingDuration", .s("900000"))])
        #expect(text.problems.first?.message.contains("must be an integer number of milliseconds, got string") == true)
    }

    @Test("KilowattHours text, order and Codable")
    func kilowattHours() throws {
        #expect(KilowattHours(thousandths: 22_253).text == "22.253")
        #expect(KilowattHours(thousandths: 2_750).text == "2.75")
        #expect(KilowattHours(thousandths: 12_000).text == "12")
        #expect(KilowattHours(thousandths: -500).text == "-0.5")
        #expect(KilowattHours(thousandths: 5).text == "0.005")
        #expect(KilowattHours("12367.931")! > KilowattHours("12345.678")!)
        #expect(KilowattHours("1.0001") == nil)
        let values = [
            KilowattHours(thousandths: 12_345_678), KilowattHours(thousandths: -1), KilowattHours(thousandths: 7),
        ]
        let data = try JSONEncoder().encode(values)
        #expect(String(decoding: data, as: UTF8.self) == "[12345.678,-0.001,0.007]")
        #expect(try JSONDecoder().decode([KilowattHours].self, from: data) == values)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([KilowattHours].self, from: Data("[1.2345]".utf8))
        }
    }

    // MARK: MeterValueInBetween and Progress

    @Test("MeterValueInBetween must be {\"meterValues\": [...]}")
    func meterValueInBetweenShape() throws {
        let bare = try Examples.validate("end.json", [("MeterValueInBetween", .array([.n("12346.912")]))])
        #expect(bare.problems.map(\.pointer) == ["/MeterValueInBetween"])
        #expect(bare.problems.first?.message.contains("wrap") == true)
        let badItem = try Examples.validate(
            "end.json", [("MeterValueInBetween", .o([("meterValues", .array([.n("1"), .s("2"), .n("3.0001")]))]))])
        #expect(
            badItem.problems.map(\.pointer) == [
                "/MeterValueInBetween/meterValues/1", "/MeterValueInBetween/meterValues/2",
            ])
        let empty = try Examples.validate("end.json", [("MeterValueInBetween", .o([]))])
        #expect(empty.validated?.notification.meterValuesInBetween == nil)
        let notList = try Examples.validate("end.json", [("MeterValueInBetween", .o([("meterValues", .n("1"))]))])
        #expect(notList.problems.map(\.pointer) == ["/MeterValueInBetween/meterValues"])
    }

    @Test("Progress needs ChargingDuration or ConsumedEnergyProgress")
    func progressNeedsDurationOrEnergy() throws {
        let neither = try Examples.validate(
            "progress.json", [("ChargingDuration", nil), ("ConsumedEnergyProgress", .null)])
        #expect(neither.problems.map(\.pointer) == [""])
        #expect(neither.problems.first?.message.contains("ChargingDuration or ConsumedEnergyProgress") == true)
        #expect(try Examples.validate("progress.json", [("ChargingDuration", nil)]).problems == [])
        #expect(try Examples.validate("progress.json", [("ConsumedEnergyProgress", nil)]).problems == [])
    }

    // MARK: Problem cap

    @Test("problems beyond maxProblems are counted, not listed")
    func problemCap() throws {
        let items = Array(repeating: JSONValue.s("x"), count: 500)
        let result = try Examples.validate("end.json", [("MeterValueInBetween", .o([("meterValues", .array(items))]))])
        #expect(result.problems.count == 101)
        #expect(result.problems.last == ValidationProblem(pointer: "", message: "400 more problems not listed"))
    }

    @Test("every example body validates from Data and ArraySlice as well")
    func otherCollections() throws {
        let bytes = try Examples.bytes("start.json")
        #expect(NotificationValidator().validate(Data(bytes)).validated != nil)
        #expect(NotificationValidator().validate(bytes[...]).validated != nil)
    }
}
