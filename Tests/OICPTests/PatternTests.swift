import Foundation
import JSON
import OICP
import Testing

@Suite("Identifier patterns and Identification (REFERENCE §3)")
struct PatternTests {
    @Test(
        "SessionID",
        arguments: [
            ("b2688855-7f00-0002-6d8e-48d883f6abb6", true),
            ("ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ", true),
            ("{b2688855-7f00-0002-6d8e-48d883f6abb6}", false),
            ("b2688855-7f00-0002-6d8e48d883f6abb6", false),
            ("b2688855-7f00-0002-6d8e-48d883f6abb6-", false),
            ("b2688855_7f00_0002_6d8e_48d883f6abb6", false),
            ("", false),
        ])
    func sessionID(value: String, valid: Bool) throws {
        let result = try Examples.validate("start.json", [("SessionID", .s(value))])
        #expect(result.problems.isEmpty == valid, "\(result.problems)")
        if !valid { #expect(result.problems.map(\.pointer) == ["/SessionID"]) }
    }

    @Test(
        "OperatorID",
        arguments: [
            ("DE*A36", true), ("DEA36", true), ("de*a36", true), ("+49*536", true), ("49*536", true),
            ("DE-A36", false), ("DE**A36", false), ("DE*A3", false), ("+49*53", false), ("+1234*536", false),
            ("+49536", false),
            ("DE|A36", false),
        ])
    func operatorID(value: String, valid: Bool) throws {
        let result = try Examples.validate("start.json", [("OperatorID", .s(value))])
        #expect(result.problems.isEmpty == valid, "\(value): \(result.problems)")
    }

    @Test(
        "EvseID: ISO and DIN, mixed case accepted with an anomaly",
        arguments: [
            ("DE*AB7*E840*6487", true), ("DEAB7E8406487", true), ("+49*810*000*438", true), ("DE*XYZ*ETEST1", true),
            ("DE*A36*E*", true), ("DE*A36*E0001*1*", true), ("de*a36*E0001*1", true),
            ("DE*A36*0001*1", false), ("DE*A36*e0001*1", false), ("DE*A36*E", false), ("+49*810*", false),
            ("+49*810*ABC", false), ("DE*A36*E0001|1", false), ("DE*A36*E" + String(repeating: "1", count: 31), false),
        ])
    func evseID(value: String, valid: Bool) throws {
        let result = try Examples.validate("start.json", [("EvseID", .s(value))])
        #expect(result.problems.isEmpty == valid, "\(value): \(result.problems)")
        if valid {
            let lower = value.contains { $0.isLowercase }
            #expect(result.anomalyCodes.contains("evse_id_not_upper_case") == lower)
        }
    }

    @Test(
        "EvcoID: ISO and DIN forms; '|' never accepted",
        arguments: [
            ("DE-8EO-CAet5e4XY-3", true), ("DE8EOCAet5e43X1", true), ("DE*8EO*Aet5e4*3", true),
            ("DE-8EO-Aet5e4-3", true),
            ("DE8EOAet5e43", true), ("DE-DCB-C12345678-X", true), ("DE*8EO*Aet5e4*X", true),
            ("DE|8EO|Aet5e4|3", false), ("DE*8EO*Aet5e4*|", false), ("DE-8EO-CAet5e4XY-|", false),
            ("DE*8EO*Aet5e4*x", false), ("DE*8EO*CAet5e4XY*3", false), ("D-8EO-CAet5e4XY-3", false), ("", false),
        ])
    func evcoID(value: String, valid: Bool) throws {
        let identification = JSONValue.o([("RemoteIdentification", .o([("EvcoID", .s(value))]))])
        let result = try Examples.validate("error.json", [("Identification", identification)])
        #expect(result.problems.isEmpty == valid, "\(value): \(result.problems)")
        if !valid {
            #expect(result.problems.map(\.pointer) == ["/Identification/RemoteIdentification/EvcoID"])
        }
        if value.contains("|") {
            #expect(result.problems.first?.message.contains("'|' is not allowed") == true)
        }
    }

    @Test(
        "UID: 8, 14 or 20 upper-case hex digits",
        arguments: [
            ("1234ABCD", true), ("7568290FFF765F", true), ("0123456789ABCDEF0123", true),
            ("1234abcd", false), ("12345ABCD", false), ("AFFH1768", false), ("", false),
        ])
    func uid(value: String, valid: Bool) throws {
        let identification = JSONValue.o([("RFIDMifareFamilyIdentification", .o([("UID", .s(value))]))])
        let result = try Examples.validate("start.json", [("Identification", identification)])
        #expect(result.problems.isEmpty == valid, "\(value): \(result.problems)")
        if value == "1234abcd" {
            #expect(result.problems.first?.message.contains("send the UID in upper case") == true)
        }
    }

    @Test("Identification needs exactly one option")
    func identificationCardinality() throws {
        let none = try Examples.validate("start.json", [("Identification", .o([]))])
        #expect(none.problems.map(\.pointer) == ["/Identification"])
        #expect(none.problems.first?.message.contains("found none") == true)

        let two = try Examples.validate(
            "start.json",
            [
                (
                    "Identification",
                    .o([
                        ("RemoteIdentification", .o([("EvcoID", .s("DE-8EO-CAet5e4XY-3"))])),
                        ("PlugAndChargeIdentification", .o([("EvcoID", .s("DE-8EO-CAet5e4XY-3"))])),
                    ])
                )
            ])
        #expect(two.problems.map(\.pointer) == ["/Identification"])
        #expect(
            two.problems.first?.message.contains("found 2: PlugAndChargeIdentification, RemoteIdentification") == true)

        let nullSecond = try Examples.validate(
            "start.json",
            [
                (
                    "Identification",
                    .o([
                        ("RemoteIdentification", .o([("EvcoID", .s("DE-8EO-CAet5e4XY-3"))])),
                        ("PlugAndChargeIdentification", .null),
                    ])
                )
            ])
        #expect(nullSecond.validated?.notification.identification == .remote(evcoID: "DE-8EO-CAet5e4XY-3"))
    }

    @Test("each Identification option decodes")
    func identificationOptions() throws {
        let rfid = JSONValue.o([
            (
                "RFIDIdentification",
                .o([
                    ("UID", .s("7568290FFF765F")), ("RFID", .s("mifareDes")), ("EvcoID", .s("DE*8EO*Aet5e4*3")),
                    ("PrintedNumber", .s("4711-0815")), ("ExpiryDate", .s("2026-12-31T23:59:59+01:00")),
                ])
            )
        ])
        #expect(
            try Examples.validate("start.json", [("Identification", rfid)]).validated?.notification.identification
                == .rfid(
                    uid: "7568290FFF765F", rfid: "mifareDes", evcoID: "DE*8EO*Aet5e4*3", printedNumber: "4711-0815",
                    expiryDate: "2026-12-31T23:59:59+01:00"))

        let qr = JSONValue.o([
            (
                "QRCodeIdentification",
                .o([
                    ("EvcoID", .s("DE-DCB-C12345678-X")), ("PIN", .s("1234")),
                    (
                        "HashedPIN",
                        .o([
                            ("Value", .s("a5ghdhf73h")), ("Function", .s("Bcrypt")),
                            (
                                "LegacyHashData",
                                .o([("Function", .s("SHA-1")), ("Salt", .s("salt")), ("Value", .s("v"))])
                            ),
                        ])
                    ),
                ])
            )
        ])
        #expect(
            try Examples.validate("start.json", [("Identification", qr)]).validated?.notification.identification
                == .qrCode(
                    evcoID: "DE-DCB-C12345678-X",
                    hashedPIN: HashedPIN(
                        value: "a5ghdhf73h", function: .bcrypt,
                        legacyHashData: .init(function: .sha1, salt: "salt", value: "v")),
                    pin: "1234"))

        let pnc = JSONValue.o([("PlugAndChargeIdentification", .o([("EvcoID", .s("DE8EOAet5e43"))]))])
        #expect(
            try Examples.validate("start.json", [("Identification", pnc)]).validated?.notification.identification
                == .plugAndCharge(evcoID: "DE8EOAet5e43"))
    }

    @Test("Identification option fields are checked")
    func identificationFieldProblems() throws {
        let rfid = JSONValue.o([
            (
                "RFIDIdentification",
                .o([
                    ("RFID", .s("mifare")), ("PrintedNumber", .s(String(repeating: "9", count: 151))),
                ])
            )
        ])
        let result = try Examples.validate("start.json", [("Identification", rfid)])
        #expect(
            Set(result.problems.map(\.pointer)) == [
                "/Identification/RFIDIdentification/UID", "/Identification/RFIDIdentification/RFID",
                "/Identification/RFIDIdentification/PrintedNumber",
            ])
        #expect(
            result.problems(at: "/Identification/RFIDIdentification/RFID").first?.message.contains("\"mifareCls\"")
                == true)

        let qr = JSONValue.o([
            (
                "QRCodeIdentification",
                .o([
                    ("EvcoID", .s("DE-DCB-C12345678-X")), ("PIN", .s(String(repeating: "1", count: 21))),
                    ("HashedPIN", .o([("Value", .s("short|")), ("Function", .s("MD5"))])),
                ])
            )
        ])
        let qrResult = try Examples.validate("start.json", [("Identification", qr)])
        #expect(
            Set(qrResult.problems.map(\.pointer)) == [
                "/Identification/QRCodeIdentification/PIN", "/Identification/QRCodeIdentification/HashedPIN/Value",
                "/Identification/QRCodeIdentification/HashedPIN/Function",
            ])

        let notObject = try Examples.validate(
            "start.json", [("Identification", .o([("RemoteIdentification", .s("x"))]))])
        #expect(notObject.problems.map(\.pointer) == ["/Identification/RemoteIdentification"])
    }

    @Test(
        "HashValue allows . + / = $ and 10–100 characters",
        arguments: [
            ("$2a$10$abcdefghij./+=", true), ("a5ghdhf73h", true), ("a5ghdhf73", false), ("a5ghdhf73h\\", false),
            (String(repeating: "a", count: 101), false),
        ])
    func hashValue(value: String, valid: Bool) throws {
        let qr = JSONValue.o([
            (
                "QRCodeIdentification",
                .o([
                    ("EvcoID", .s("DE-DCB-C12345678-X")),
                    ("HashedPIN", .o([("Value", .s(value)), ("Function", .s("Bcrypt"))])),
                ])
            )
        ])
        #expect(try Examples.validate("start.json", [("Identification", qr)]).problems.isEmpty == valid)
    }
}
