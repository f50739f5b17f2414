import Foundation

/// A string key that hashes and compares by its exact UTF-8 bytes.
package struct ExactKey: Hashable {
    package let text: String

    package static func == (lhs: ExactKey, rhs: ExactKey) -> Bool {
        UTF8Bytes.equal(lhs.text, rhs.text)
    }

    package func hash(into hasher: inout Hasher) {
        var copy = text
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
