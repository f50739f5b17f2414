import Foundation
import JSON
import Ledger
import OICP
import Testing

private let needDuration = "Progress notifications need ChargingDuration or ConsumedEnergyProgress (or both)"

private let problems = [
    ValidationProblem(pointer: "/SessionID", message: "SessionID must match the SessionID pattern"),
    ValidationProblem(pointer: "", message: needDuration),
]

private func reject(
    _ bytes: [UInt8], problems: [ValidationProblem] = problems, context: IngestContext = context(), rawCap: Int = 8192
) throws -> DecidedEvent {
    try NotificationDecision.rejection(rawBody: bytes, problems: problems, context: context, rawCap: rawCap)
}

@Suite("NotificationDecision.rejection: raw bytes")
struct RejectionRawTests {
    @Test("a UTF-8 body is kept as text")
    func utf8Text() throws {
        let body = #"{"Type":"Strat","EvseID":"DE*A36*E0001*1","Info":"Grüße 🔌"}"#

        let data = try parseObject(try reject(Array(body.utf8)).data)

        #expect(data["raw"] == .string(body))
        #expect(data["raw_encoding"] == .string("utf-8"))
        #expect(data["raw_bytes"] == .number(String(body.utf8.count)))
        #expect(data["raw_truncated"] == .bool(false))
    }

    @Test("a body that is not UTF-8 is kept as base64")
    func nonUTF8Base64() throws {
        let bytes: [UInt8] = [0xFF, 0xFE, 0x7B]

        let data = try parseObject(reject(bytes).data)

        #expect(data["raw"] == .string("//57"))
        #expect(data["raw_encoding"] == .string("base64"))
        #expect(data["raw_bytes"] == .number("3"))
        #expect(data["raw_truncated"] == .bool(false))
    }

    @Test("a body with a NUL byte is kept as base64")
    func nulBase64() throws {
        let bytes: [UInt8] = Array("{\"a\":".utf8) + [0x00] + Array("}".utf8)

        let data = try parseObject(reject(bytes).data)

        #expect(data["raw"] == .string(Data(bytes).base64EncodedString()))
        #expect(data["raw_encoding"] == .string("base64"))
    }

    @Test("an empty body is kept as empty text")
    func emptyBody() throws {
        let data = try parseObject(reject([]).data)

        #expect(data["raw"] == .string(""))
        #expect(data["raw_encoding"] == .string("utf-8"))
        #expect(data["raw_bytes"] == .number("0"))
        #expect(data["raw_truncated"] == .bool(false))
    }

    @Test("a body longer than rawCap keeps its first rawCap bytes and records the full size")
    func truncated() throws {
        let body = Array("0123456789abcdefghij".utf8)

        let data = try parseObject(reject(body, rawCap: 8).data)

        #expect(data["raw"] == .string("01234567"))
        #expect(data["raw_encoding"] == .string("utf-8"))
        #expect(data["raw_bytes"] == .number("20"))
        #expect(data["raw_truncated"] == .bool(true))
    }

    @Test("a non-UTF-8 body longer than rawCap is truncated before base64 encoding")
    func truncatedBase64() throws {
        let body: [UInt8] = [0xFF, 0xFE, 0x7B, 0x00, 0x01, 0x02]

        let data = try parseObject(reject(body, rawCap: 3).data)

        #expect(data["raw"] == .string("//57"))
        #expect(data["raw_encoding"] == .string("base64"))
        #expect(data["raw_bytes"] == .number("6"))
        #expect(data["raw_truncated"] == .bool(true))
    }

    @Test("truncation never cuts a UTF-8 character in two, so a text body stays text")
    func truncationKeepsWholeCharacters() throws {
        let body = Array("ab€cd".utf8)  // € is three bytes: 0xE2 0x82 0xAC

        let data = try parseObject(reject(body, rawCap: 3).data)

        #expect(data["raw"] == .string("ab"))
        #expect(data["raw_encoding"] == .string("utf-8"))
        #expect(data["raw_bytes"] == .number("7"))
        #expect(data["raw_truncated"] == .bool(true))
    }

    @Test("a body of exactly rawCap bytes is not truncated")
    func exactlyCap() throws {
        let body = Array("01234567".utf8)

        let data = try parseObject(reject(body, rawCap: 8).data)

        #expect(data["raw"] == .string("01234567"))
        #expect(data["raw_truncated"] == .bool(false))
    }

    @Test("the default rawCap is 8192 bytes")
    func defaultCap() throws {
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 8193)

        let event = try NotificationDecision.rejection(rawBody: body, problems: problems, context: context())

        let data = try parseObject(event.data)
        #expect(data["raw"] == .string(String(repeating: "x", count: 8192)))
        #expect(data["raw_bytes"] == .number("8193"))
        #expect(data["raw_truncated"] == .bool(true))
    }
}

@Suite("NotificationDecision.rejection: event")
struct RejectionEventTests {
    @Test("every problem is listed with its pointer and message, in order")
    func problemsListed() throws {
        let data = try parseObject(try reject(Array("{}".utf8)).data)

        #expect(
            data["problems"]
                == .array([
                    .object(
                        JSONObject([
                            ("pointer", .string("/SessionID")),
                            ("message", .string("SessionID must match the SessionID pattern")),
                        ])),
                    .object(
                        JSONObject([("pointer", .string("")), ("message", .string(needDuration))])),
                ]))
    }

    @Test("data records when the body was received")
    func receivedAt() throws {
        let data = try parseObject(try reject(Array("{}".utf8)).data)

        #expect(data["received_at"] == .string("2026-11-27T10:00:00.250Z"))
    }

    @Test("a rejection is a NotificationRejected event with no anomalies")
    func typeAndAnomalies() throws {
        let event = try reject(Array("{}".utf8))

        #expect(event.type == .notificationRejected)
        #expect(event.anomalies == [])
    }

    @Test("two rejections of one body get two ids")
    func randomIDs() throws {
        let first = try reject(Array("{}".utf8))
        let second = try reject(Array("{}".utf8))

        #expect(first.id != second.id)
    }

    @Test("metadata records the client, source, request id and schema version")
    func metadata() throws {
        let event = try reject(Array("{}".utf8), context: context(client: "cli", requestID: "req-7", source: "cli"))

        let metadata = try parseObject(event.metadata)
        #expect(metadata["client"] == .string("cli"))
        #expect(metadata["source"] == .string("cli"))
        #expect(metadata["request_id"] == .string("req-7"))
        #expect(metadata["schema_version"] == .number("1"))
    }

    @Test("the last second of a UTC day goes to that day's quarantine stream")
    func quarantineLastSecond() throws {
        let event = try reject(Array("{}".utf8), context: context(receivedAt: try instant("2026-11-27T23:59:59Z")))

        #expect(event.stream == "quarantine-2026-11-27")
    }

    @Test("the first second of a UTC day goes to the new day's quarantine stream")
    func quarantineFirstSecond() throws {
        let event = try reject(Array("{}".utf8), context: context(receivedAt: try instant("2026-11-28T00:00:00Z")))

        #expect(event.stream == "quarantine-2026-11-28")
    }

    @Test("the quarantine day is the UTC day, not the day at the sender's offset")
    func quarantineUTCDay() throws {
        let event = try reject(Array("{}".utf8), context: context(receivedAt: try instant("2026-11-28T00:30:00+01:00")))

        #expect(event.stream == "quarantine-2026-11-27")
    }
}

@Suite("NotificationDecision.rejectionsDropped")
struct RejectionsDroppedTests {
    @Test("the event counts the dropped rejections over its window")
    func data() throws {
        let event = NotificationDecision.rejectionsDropped(
            count: 17, windowStart: try instant("2026-11-27T23:59:00Z"),
            windowEnd: try instant("2026-11-28T00:00:00.5Z"), context: context())

        let data = try parseObject(event.data)
        #expect(data["dropped"] == .number("17"))
        #expect(data["window_start"] == .string("2026-11-27T23:59:00.000Z"))
        #expect(data["window_end"] == .string("2026-11-28T00:00:00.500Z"))
        #expect(event.type == .rejectionsDropped)
    }

    @Test("the event goes to the quarantine stream of the window's end")
    func stream() throws {
        let event = NotificationDecision.rejectionsDropped(
            count: 1, windowStart: try instant("2026-11-27T23:59:00Z"), windowEnd: try instant("2026-11-28T00:00:00Z"),
            context: context())

        #expect(event.stream == "quarantine-2026-11-28")
    }
}
