import Foundation
import Logging
import Postgres

/// Runs appends through `ledger.append_batch` (or `ledger.append_one` for a batch of one): one
/// statement, one round trip and one commit for a whole batch (db/0005-create-append-function.sql).
///
/// Isolation between the appends of a batch: a conflict or replay in one append is an outcome
/// of that append only. If the statement as a whole fails (a concurrent writer on another
/// connection won a unique key, or one event's data is not valid JSON), the appends are run
/// again one by one, so only the bad one fails.
enum BatchAppender {
    /// Appends on `session` and returns one result per request, in order.
    static func append(_ requests: [AppendRequest], on session: PostgresSession) -> [Result<AppendResult, any Error>] {
        do {
            return try run(requests, on: session).map { .success($0) }
        } catch let error as PostgresError where error.code == .connectionLost || error.code == .connectionFailed {
            return requests.map { _ in .failure(error) }
        } catch {
            // Includes a batch of one that lost a unique-key race to the other commit lane:
            // appendAlone retries it against the stream as it now is.
            return requests.map { request in appendAlone(request, on: session) }
        }
    }

    /// One append in a statement of its own, retried when a concurrent writer on another
    /// connection took the version it computed (SQLSTATE 23505): the retry sees that writer's
    /// events and yields the right outcome (appended after them, conflict, or replay).
    private static func appendAlone(_ request: AppendRequest, on session: PostgresSession) -> Result<AppendResult, any Error> {
        var attempt = 0
        while true {
            do {
                return .success(try run([request], on: session)[0])
            } catch let error as PostgresError where error.isUniqueViolation && attempt < 3 {
                attempt += 1
            } catch let error as PostgresError where error.sqlState == "LE002" {
                return .failure(EventStoreError(code: .streamRetiring, message: error.message))
            } catch {
                return .failure(error)
            }
        }
    }

    /// What both append functions return, in the order `run` decodes.
    static let outcomeColumns = "request, outcome, stream_version, first_position, last_position, transaction_id"

    static func run(_ requests: [AppendRequest], on session: PostgresSession) throws -> [AppendResult] {
        let result: PostgresResult
        if requests.count == 1, let request = requests.first {
            // A batch of one (every append at low load) skips the batch function's set queries.
            // Both calls are prepared once per connection: parsing and planning the call was
            // a tenth of a single append's server CPU.
            var events = ""
            appendEvents(request.events, to: &events)
            result = try session.prepared(
                "SELECT \(unsafeRaw: outcomeColumns) FROM ledger.append_one(\(request.stream), \(request.expected.required)::integer, \(events)::jsonb)"
            )
        } else {
            result = try session.prepared(
                "SELECT \(unsafeRaw: outcomeColumns) FROM ledger.append_batch(\(batchJSON(requests))::jsonb)"
            )
        }
        guard result.rowCount == requests.count else {
            throw PostgresError(code: .protocolViolation, message: "append_batch returned \(result.rowCount) rows for \(requests.count) appends")
        }
        var results: [AppendResult] = []
        results.reserveCapacity(requests.count)
        for row in result.rows {
            let index = try row.decode(Int.self, column: 0)
            let outcome = try row.decode(String.self, column: 1)
            let version = try row.decode(Int?.self, column: 2) ?? 0
            func range() throws -> AppendedRange {
                AppendedRange(
                    streamVersion: version,
                    firstPosition: try row.decode(Int64.self, column: 3),
                    lastPosition: try row.decode(Int64.self, column: 4),
                    transactionID: try row.decode(UInt64.self, column: 5)
                )
            }
            switch outcome {
            case "appended": results.append(.appended(try range()))
            case "duplicate": results.append(.alreadyAppended(try range()))
            case "conflict": results.append(.conflict(expected: requests[index].expected, actual: version))
            default:
                throw EventStoreError(code: .eventIDReused, message: "append to \(requests[index].stream): some of its event ids are stored already, in other appends")
            }
        }
        return results
    }

    /// `[{"stream": …, "expected": …, "events": [{"id", "type", "data", "metadata"}]}]`, with the
    /// events' JSON text embedded as is.
    static func batchJSON(_ requests: [AppendRequest]) -> String {
        var out = "["
        out.reserveCapacity(requests.reduce(0) { $0 + $1.events.reduce(96) { $0 + $1.data.utf8.count + $1.metadata.utf8.count + 96 } })
        for (i, request) in requests.enumerated() {
            if i > 0 { out += "," }
            out += "{\"stream\":"
            appendQuoted(request.stream, to: &out)
            out += ",\"expected\":"
            out += request.expected.json
            out += ",\"events\":"
            appendEvents(request.events, to: &out)
            out += "}"
        }
        out += "]"
        return out
    }

    /// `[{"id", "type", "data", "metadata"}, …]`
    static func appendEvents(_ events: [NewEvent], to out: inout String) {
        out += "["
        for (j, event) in events.enumerated() {
            if j > 0 { out += "," }
            out += "{\"id\":\""
            out += event.id.lowercasedString
            out += "\",\"type\":"
            appendQuoted(event.type, to: &out)
            out += ",\"data\":"
            out += event.data
            out += ",\"metadata\":"
            out += event.metadata
            out += "}"
        }
        out += "]"
    }

    static func appendQuoted(_ text: String, to out: inout String) {
        out += "\""
        // Stream names and event types need no escaping: appended whole, not scalar by scalar
        // (5% of an import's CPU).
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) {
            out += text
            out += "\""
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
