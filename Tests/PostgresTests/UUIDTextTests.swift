import Foundation
import Postgres
import Testing

@Suite("UUIDs as text, both ways")
struct UUIDTextTests {
    @Test("written as Foundation writes them, lower-cased; read back to the same UUID")
    func roundTrip() throws {
        var uuids = (0..<1000).map { _ in UUID() }
        uuids += [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))]
        for uuid in uuids {
            let text = uuid.lowercasedString
            #expect(text == uuid.uuidString.lowercased())
            #expect(uuid.postgresText == text)
            let read = try Array(text.utf8).withUnsafeBufferPointer { try UUID(postgresText: $0) }
            #expect(read == uuid)
        }
    }
}
