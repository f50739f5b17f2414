import Foundation
import Ledger
import Testing

@Suite("rfc3339(Date)")
struct RFC3339Tests {
    @Test("the epoch is 1970-01-01T00:00:00.000Z")
    func epoch() {
        #expect(rfc3339(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    }

    @Test("a whole second is written with .000 milliseconds")
    func wholeSecond() {
        #expect(rfc3339(Date(timeIntervalSince1970: 1_795_773_600)) == "2026-11-27T10:00:00.000Z")
    }

    @Test("milliseconds are written with three digits")
    func milliseconds() {
        #expect(rfc3339(Date(timeIntervalSince1970: 1_795_773_600.123)) == "2026-11-27T10:00:00.123Z")
        #expect(rfc3339(Date(timeIntervalSince1970: 1_795_773_600.007)) == "2026-11-27T10:00:00.007Z")
    }

    @Test("digits below a millisecond are truncated, never rounded up")
    func truncation() {
        #expect(rfc3339(Date(timeIntervalSince1970: 1_795_773_600.1239)) == "2026-11-27T10:00:00.123Z")
        #expect(rfc3339(Date(timeIntervalSince1970: 1_795_823_999.9996)) == "2026-11-27T23:59:59.999Z")
    }

    @Test("a leap day is written as February 29")
    func leapDay() {
        #expect(rfc3339(Date(timeIntervalSince1970: 1_709_210_096)) == "2024-02-29T12:34:56.000Z")
    }

    @Test("one second before the epoch is 1969-12-31T23:59:59.000Z")
    func justBeforeEpoch() {
        #expect(rfc3339(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59.000Z")
    }

    @Test("a fraction before the epoch counts down from the previous second")
    func fractionBeforeEpoch() {
        #expect(rfc3339(Date(timeIntervalSince1970: -0.25)) == "1969-12-31T23:59:59.750Z")
    }

    @Test("a date long before 1970 is written in the proleptic Gregorian calendar")
    func longBefore1970() {
        #expect(rfc3339(Date(timeIntervalSince1970: -2_208_988_800)) == "1900-01-01T00:00:00.000Z")
        #expect(rfc3339(Date(timeIntervalSince1970: -2_203_891_200.5)) == "1900-02-28T23:59:59.500Z")
    }

    @Test("2000-02-29 exists (a leap year divisible by 400)")
    func year2000LeapDay() {
        #expect(rfc3339(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
    }
}

@Suite("StreamName")
struct StreamNameTests {
    @Test("a session stream is session-<SessionID>")
    func session() {
        #expect(
            StreamName.session("3fe7378a-238f-4cf3-bca6-de657881f8c2")
                == "session-3fe7378a-238f-4cf3-bca6-de657881f8c2")
    }

    @Test("a stream named only session- has no SessionID")
    func emptySessionID() {
        #expect(StreamName.sessionID(of: "session-") == nil)
        #expect(StreamName.sessionID(of: "session-x") == "x")
    }

    @Test("a delivery stream is delivery-<SessionID>")
    func delivery() {
        #expect(
            StreamName.delivery("3fe7378a-238f-4cf3-bca6-de657881f8c2")
                == "delivery-3fe7378a-238f-4cf3-bca6-de657881f8c2")
    }

    @Test("sessionID(of:) gives the SessionID of a session stream")
    func sessionIDOfSessionStream() {
        #expect(
            StreamName.sessionID(of: "session-3fe7378a-238f-4cf3-bca6-de657881f8c2")
                == "3fe7378a-238f-4cf3-bca6-de657881f8c2")
    }

    @Test("sessionID(of:) inverts session(_:)")
    func sessionIDRoundTrip() {
        let id = "8d571ee6-bb6f-4b1b-b82a-318c8866b4d0"

        #expect(StreamName.sessionID(of: StreamName.session(id)) == id)
    }

    @Test(
        "sessionID(of:) is nil for other streams",
        arguments: [
            "delivery-3fe7378a-238f-4cf3-bca6-de657881f8c2", "quarantine-2026-11-27",
            "Session-3fe7378a-238f-4cf3-bca6-de657881f8c2", "session", "",
        ])
    func sessionIDOfOtherStream(stream: String) {
        #expect(StreamName.sessionID(of: stream) == nil)
    }

    @Test("a quarantine stream is named after the UTC day")
    func quarantine() {
        #expect(StreamName.quarantine(day: Date(timeIntervalSince1970: 1_795_773_600)) == "quarantine-2026-11-27")
    }

    @Test("the quarantine day of the last second before the epoch is 1969-12-31")
    func quarantineBeforeEpoch() {
        #expect(StreamName.quarantine(day: Date(timeIntervalSince1970: -1)) == "quarantine-1969-12-31")
    }
}
