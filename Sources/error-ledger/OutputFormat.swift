import ArgumentParser
import CLISupport
import Foundation
import OICP
import Projections

/// How the query commands print read-model rows.
///
/// - `table`: aligned columns for a terminal (JSON fields shown as JSON text);
/// - `json`: one JSON document (an object, or an array for lists);
/// - `csv`: RFC 4180, a header line, fields quoted where needed;
/// - `ndjson`: one JSON object per line.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv, ndjson

    /// Renders `records` (a list: a JSON array for `json`).
    func render(_ records: [any ReadModelRecord], columns: [String]? = nil) -> String {
        switch self {
        case .json:
            return "[" + records.map(\.json).joined(separator: ",\n") + "]\n"
        case .ndjson:
            return records.map { $0.json + "\n" }.joined()
        case .csv:
            let names = columns ?? records.first?.fields.map(\.name) ?? []
            return CSV.line(names) + records.map { $0.csvLine(names) }.joined()
        case .table:
            let names = columns ?? records.first?.fields.map(\.name) ?? []
            let rows = records.map { record in
                let values = Dictionary(record.fields.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
                return names.map { Self.cell(values[$0]?.text ?? "") }
            }
            var widths = names.map(\.count)
            for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
            func line(_ cells: [String]) -> String {
                zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                    .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
            }
            return line(names) + line(widths.map { String(repeating: "-", count: $0) }) + rows.map(line).joined()
        }
    }

    /// Renders one record: an object for `json`, a name/value list for `table`.
    func render(single record: any ReadModelRecord) -> String {
        switch self {
        case .json: return record.json + "\n"
        case .ndjson, .csv: return render([record])
        case .table:
            let width = record.fields.map(\.name.count).max() ?? 0
            return record.fields.map { $0.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + Self.cell($0.value.text) + "\n" }
                .joined()
        }
    }

    /// A table cell on one line, cut to a readable width.
    private static func cell(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\t", with: " ")
        return flat.count > 60 ? String(flat.prefix(59)) + "…" : flat
    }
}

/// An RFC 3339 instant given on the command line (`2026-11-27T10:00:00Z`, `…+01:00`).
struct Instant: ExpressibleByArgument {
    var date: Date

    init?(argument: String) {
        guard let timestamp = Timestamp(argument) else { return nil }
        date = Date(timeIntervalSince1970: Double(timestamp.epochMilliseconds) / 1000)
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// Prints a page's cursor for the next page on standard error, so standard output stays data.
func printNextCursor(_ next: String?) {
    if let next { printError("more: --cursor \(next)") }
}
