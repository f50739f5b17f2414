import HTTPServer
import Projections
import Synchronization

/// How a list endpoint answers, chosen by `Accept`.
enum Representation: Equatable {
    /// One page as `{"items": […], "next_cursor": …}`.
    case page
    /// Every matching row from the cursor on, streamed: a header line, then RFC 4180 lines.
    case csv
    /// Every matching row from the cursor on, streamed: one JSON object per line.
    case ndjson

    static let csvType = "text/csv"
    static let ndjsonType = "application/x-ndjson"

    /// The representation `Accept` asks for (RFC 9110 §12.5.1): of the media ranges this list
    /// serves, the one with the highest quality, the first listed on a tie; `q=0` excludes a
    /// range. No `Accept` is JSON.
    static func negotiate(_ accept: String?) throws(APIProblem) -> Representation {
        guard let accept, !accept.isEmpty else { return .page }
        var best: (representation: Representation, quality: Double)?
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            let representation: Representation? =
                switch parts.first ?? "" {
                case "application/json", "*/*", "application/*": .page
                case csvType, "text/*": .csv
                case ndjsonType: .ndjson
                default: nil
                }
            guard let representation, quality > 0, quality > (best?.quality ?? 0) else { continue }
            best = (representation, quality)
        }
        if let best { return best.representation }
        throw APIProblem(
            status: 406, code: "not_acceptable",
            message: "Accept \"\(accept)\" names nothing this list serves: application/json, \(csvType) or \(ndjsonType)"
        )
    }
}

/// Streams every row of a keyset-paginated list, page by page, as CSV or NDJSON.
///
/// Pull-based: the next page is read only when the server has written the previous one, so an
/// export of a year of errors holds one page in memory however slowly the client reads. A page
/// that fails to load ends the response without its last chunk: the client sees a truncated
/// transfer, never a short file that looks complete.
struct PagedExport<Item: ReadModelRecord>: Sendable {
    typealias Fetch = @Sendable (_ cursor: String?, _ limit: Int) async throws -> Page<Item>

    let representation: Representation
    let columns: [String]
    let fetch: Fetch
    /// Rows at most, or nil for all.
    let limit: Int?
    let pageSize = TimelineQueries.maxLimit

    private final class Progress: Sendable {
        struct State {
            var cursor: String?
            var headerSent = false
            var sent = 0
            var done = false
        }

        let state: Mutex<State>
        init(cursor: String?) { state = Mutex(State(cursor: cursor)) }
    }

    func stream(from cursor: String?) -> AsyncThrowingStream<[UInt8], any Error> {
        let progress = Progress(cursor: cursor)
        return AsyncThrowingStream(unfolding: { [self] in try await next(progress) })
    }

    private func next(_ progress: Progress) async throws -> [UInt8]? {
        let (cursor, headerSent, sent, done) = progress.state.withLock { ($0.cursor, $0.headerSent, $0.sent, $0.done) }
        if done || Task.isCancelled { return nil }
        var text = ""
        if representation == .csv, !headerSent { text = CSV.line(columns) }
        let want = limit.map { min(pageSize, $0 - sent) } ?? pageSize
        guard want > 0 else {
            progress.state.withLock { $0.done = true }
            return text.isEmpty ? nil : Array(text.utf8)
        }
        let page = try await fetch(cursor, want)
        for item in page.items {
            text += representation == .csv ? item.csvLine(columns) : item.json + "\n"
        }
        progress.state.withLock { state in
            state.headerSent = true
            state.cursor = page.next
            state.sent += page.items.count
            state.done = page.next == nil
        }
        // An empty page with a header still to send, or the last empty page: end cleanly.
        return text.isEmpty ? nil : Array(text.utf8)
    }

    /// The response head and streamed body.
    func response(from cursor: String?) -> HTTPResponse {
        let type = representation == .csv ? "\(Representation.csvType); charset=utf-8; header=present" : Representation.ndjsonType
        return HTTPResponse(
            status: 200, headers: HTTPHeaders([("Content-Type", type), ("Cache-Control", "no-store")]),
            body: .failableStream(stream(from: cursor))
        )
    }
}
