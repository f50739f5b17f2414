import Foundation

/// A string key that hashes and compares by its exact UTF-8 bytes.
struct ExactKey: Hashable {
    let text: String

    static func == (lhs: ExactKey, rhs: ExactKey) -> Bool {
        UTF8Bytes.equal(lhs.text, rhs.text)
    }

    func hash(into hasher: inout Hasher) {
        var copy = text
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
