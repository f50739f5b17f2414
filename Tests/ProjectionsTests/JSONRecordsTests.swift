import Foundation
import JSON
@testable import Projections
import Testing

@Suite("JSON records for jsonb_populate_recordset")
struct JSONRecordsTests {
    @Test("each row an object keyed by column: strings escaped, NULL as null, integers as numbers, JSON columns as documents")
    func rows() throws {
        var records = JSONRecords(columns: ["k", "v", "u", "doc"])
        records.integer(Int64.min)
        records.text("quote \" backslash \\ newline \n")
        records.uuid(UUID(uuidString: "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9")!)
        records.json(#"{"a":[1,2]}"#)
        records.endRow()
        records.integer(7)
        records.text(nil)
        records.uuid(UUID(uuidString: "00000000-0000-0000-0000-000000000000")!)
        records.json(nil)
        records.endRow()
        guard case .array(let rows) = try JSONParser.parse(Array(records.document.utf8), maxDepth: 8, maxBytes: 1 << 20) else {
            Issue.record("not an array: \(records.document)")
            return
        }
        #expect(rows.count == 2)
        let first = try #require(rows.first?.objectValue)
        #expect(first["k"]?.numberText == String(Int64.min))
        #expect(first["v"]?.stringValue == "quote \" backslash \\ newline \n")
        #expect(first["u"]?.stringValue == "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9")
        #expect(first["doc"]?.objectValue?["a"]?.arrayValue?.count == 2)
        let second = try #require(rows.last?.objectValue)
        #expect(second["v"] == .null && second["doc"] == .null)
        #expect(JSONRecords(columns: ["k"]).document == "[]")
    }
}
