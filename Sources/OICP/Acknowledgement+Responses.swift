import Foundation
import JSON

extension Acknowledgement {
    /// A positive acknowledgement for a validated notification: `Result` true, code `"000"`,
    /// `Description` `"Success"`, echoing `SessionID` and both partner session IDs (REFERENCE §2).
    public static func accepted(_ notification: ChargingNotification) -> Acknowledgement {
        Acknowledgement(
            result: true, statusCode: StatusCode(.success, description: "Success"),
            sessionID: notification.sessionID, cpoPartnerSessionID: notification.cpoPartnerSessionID,
            empPartnerSessionID: notification.empPartnerSessionID)
    }

    /// A negative acknowledgement for a refused body: `Result` false, code `"022"` "Data error".
    ///
    /// `AdditionalInfo` lists every problem as `pointer: message`, separated by `"; "`, cut to the
    /// 1000-character limit of `StatusCodeType` (REFERENCE §2.1, counted in UTF-16 code units)
    /// with a trailing `"… (N more)"` marker naming how many problems were left out.
    /// - Parameters:
    ///   - failure: The validation result.
    ///   - sessionID: The body's SessionID if one could be read; echoed only when it matches the
    ///     SessionID pattern, since the acknowledgement's field is a SessionIDType.
    public static func rejected(_ failure: ValidationFailure, sessionID: String?) -> Acknowledgement {
        Acknowledgement(
            result: false,
            statusCode: StatusCode(
                .dataError, description: "Data error",
                additionalInfo: additionalInfo(for: failure.problems, limit: StatusCode.maxAdditionalInfoLength)),
            sessionID: sessionID.flatMap { OICPPattern.sessionIDProblem($0) == nil ? $0 : nil })
    }

    /// Joins problems into at most `limit` UTF-16 code units.
    static func additionalInfo(for problems: [ValidationProblem], limit: Int) -> String {
        let separator = "; "
        var text = ""
        var length = 0  // UTF-16 code units of `text`
        for (index, problem) in problems.enumerated() {
            let item = problem.description
            let itemLength = Length.utf16(item) + (index == 0 ? 0 : separator.utf16.count)
            let remaining = problems.count - index - 1
            // Room needed for a marker if items are still to follow.
            let reserve = remaining > 0 ? marker(remaining).utf16.count + separator.utf16.count : 0
            if length + itemLength + reserve <= limit {
                if index > 0 { text += separator }
                text += item
                length += itemLength
                continue
            }
            // This item does not fit: show what fits of it if nothing is shown yet, then the marker.
            let left = problems.count - index
            var tail = marker(left)
            if index == 0 {
                tail = marker(left - 1)
                let room = limit - tail.utf16.count - 1 - separator.utf16.count
                text = prefix(item, utf16Limit: max(0, room)) + "…"
                length = Length.utf16(text)
                if left - 1 == 0 { return text }
            }
            return text + (text.isEmpty ? "" : separator) + tail
        }
        return text
    }

    private static func marker(_ count: Int) -> String { "… (\(count) more)" }

    /// The longest prefix of `text` within `utf16Limit` code units, never splitting a scalar.
    private static func prefix(_ text: String, utf16Limit: Int) -> String {
        var used = 0
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let width = scalar.utf16.count
            if used + width > utf16Limit { break }
            result.append(scalar)
            used += width
        }
        return String(result)
    }
}
