import Foundation
import JSON
import OICP
import Testing

@Suite("Shared OICP example bodies")
struct ExampleTests {
    @Test("each valid example is accepted without anomalies", arguments: Examples.valid)
    func validExampleAccepted(name: String) throws {
        let result = NotificationValidator().validate(try Examples.bytes(name))
        #expect(result.problems == [])
        #expect(result.validated?.anomalies == [])
    }

    @Test func startDecoded() throws {
        let n = try #require(NotificationValidator().validate(try Examples.bytes("start.json")).validated).notification
        #expect(n.type == .start)
        #expect(n.sessionID == "3fe7378a-238f-4cf3-bca6-de657881f8c2")
        #expect(n.evseID == "DE*A36*E0001*1")
        #expect(n.operatorID == "DE*A36")
        #expect(n.cpoPartnerSessionID == "cpo-tx-2024-05-14-000417")
        #expect(n.empPartnerSessionID == nil)
        #expect(n.identification == .rfidMifareFamily(uid: "044A2DAA856280"))
        #expect(n.partnerProductID == "AC3")
        #expect(n.chargingStart?.text == "2024-05-14T09:32:10+02:00")
        #expect(n.chargingStart?.epochMilliseconds == 1_715_671_930_000)
        #expect(n.chargingStart?.utcOffsetSeconds == 7200)
        #expect(n.sessionStart?.text == "2024-05-14T09:31:48+02:00")
        #expect(n.meterValueStart == KilowattHours(thousandths: 12_345_678))
        #expect(n.chargingEnd == nil && n.errorType == nil)
    }

    @Test func progressDecoded() throws {
        let n = try #require(NotificationValidator().validate(try Examples.bytes("progress.json")).validated)
            .notification
        #expect(n.type == .progress)
        #expect(n.eventOccurred?.epochMilliseconds == 1_715_672_830_000)
        #expect(n.chargingDuration == 900_000)
        #expect(n.consumedEnergyProgress?.thousandths == 2750)
        #expect(n.consumedEnergyProgress?.text == "2.75")
        #expect(
            n.meterValuesInBetween == [KilowattHours(thousandths: 12_346_912), KilowattHours(thousandths: 12_348_428)])
    }

    @Test func endDecoded() throws {
        let validated = try #require(NotificationValidator().validate(try Examples.bytes("end.json")).validated)
        let n = validated.notification
        #expect(n.type == .end)
        #expect(n.consumedEnergy?.thousandths == 22_253)
        #expect(n.meterValueStart?.thousandths == 12_345_678)
        #expect(n.meterValueEnd?.thousandths == 12_367_931)
        #expect(n.meterValuesInBetween?.count == 3)
        #expect(n.chargingEnd?.text == "2024-05-14T11:05:42+02:00")
        #expect(n.penaltyTimeStart?.text == "2024-05-14T11:35:42+02:00")
        #expect(n.sessionEnd == nil)
        // 12367.931 − 12345.678 = 22.253 exactly: no energy anomaly.
        #expect(!validated.anomalies.contains { $0.code == "consumed_energy_mismatch" })
    }

    @Test func errorDecoded() throws {
        let n = try #require(NotificationValidator().validate(try Examples.bytes("error.json")).validated).notification
        #expect(n.type == .error)
        #expect(n.errorType == .criticalError)
        #expect(n.errorAdditionalInfo?.count == 99)
        #expect(n.identification == .remote(evcoID: "DE-8EO-CAet5e4XY-3"))
        #expect(n.evseID == "DE*A36*E0002*1")
        #expect(n.chargingStart == nil)
    }

    @Test("invalid-error.json reports all seven listed problems at their pointers")
    func invalidErrorRejected() throws {
        let result = NotificationValidator().validate(try Examples.bytes("invalid-error.json"))
        let failure = try #require(result.problems.isEmpty ? nil : result.problems)
        let pointers = Set(failure.map(\.pointer))
        let expected: [String] = [
            "/OperatorID",
            "/SessionID",
            "/Identification/RFIDMifareFamilyIdentification/UID",
            "/Identification",
            "/EvseID",
            "/ErrorType",
            "/ErrorAdditionalInfo",
        ]
        for pointer in expected {
            #expect(pointers.contains(pointer), "missing problem at \(pointer)")
        }
        #expect(result.problems(at: "/OperatorID").first?.message.contains("required") == true)
        #expect(result.problems(at: "/SessionID").first?.message.contains("group 5 has 11 characters") == true)
        let uid = try #require(result.problems(at: "/Identification/RFIDMifareFamilyIdentification/UID").first)
        #expect(uid.message.contains("upper case"))
        let identification = try #require(result.problems(at: "/Identification").first)
        #expect(identification.message.contains("RFIDMifareFamilyIdentification"))
        #expect(identification.message.contains("RemoteIdentification"))
        #expect(result.problems(at: "/EvseID").first?.message.contains("\"E\"") == true)
        #expect(
            result.problems(at: "/ErrorType").map(\.message) == [
                #"ErrorType must be "ConnectorError" or "CriticalError"; "Connector Error" is a known typo in the CPO data-types chapter"#
            ])
        let info = try #require(result.problems(at: "/ErrorAdditionalInfo").first)
        #expect(info.message.contains("331") && info.message.contains("250"))
        #expect(info.message.count < 200, "the 331-character value must not be echoed")
        #expect(failure.count == 7)
    }

    @Test("serialized() round-trips through JSONParser.parse", arguments: Examples.all)
    func serializationRoundTrip(name: String) throws {
        let original = try JSONParser.parse(try Examples.bytes(name), maxDepth: 16, maxBytes: 65_536)
        let text = original.serialized()
        let reparsed = try JSONParser.parse(Array(text.utf8), maxDepth: 16, maxBytes: 65_536)
        #expect(reparsed == original)
        #expect(reparsed.serialized() == text)
        #expect(!text.contains("\n"))
    }

    @Test("the accepted body keeps key order and literal numbers")
    func bodyKeptVerbatim() throws {
        let validated = try #require(NotificationValidator().validate(try Examples.bytes("end.json")).validated)
        let body = try #require(validated.body.objectValue)
        #expect(body.keys.first == "Type")
        #expect(body.keys.last == "PenaltyTimeStart")
        #expect(body["ConsumedEnergy"] == .number("22.253"))
        #expect(validated.body["MeterValueInBetween"]?["meterValues"]?.arrayValue?.first == .number("12346.912"))
    }
}
