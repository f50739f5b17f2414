import Foundation

/// Why `JSONParser.parse` refused its input.
///
/// `offset` is the byte offset of the offending byte; `pointer` is the RFC 6901 JSON pointer
/// of the value concerned (`""` for syntax errors, which have no reliable location in the tree).
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of failure. New kinds may be added.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case syntax, invalidUTF8, tooLarge, tooDeep, duplicateKey
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// Not RFC 8259 JSON.
        public static let syntax = Kind(.syntax)
        /// Not UTF-8 (RFC 8259 §8.1; OICP 2.3 CPO chapter 1: "MUST use UTF-8").
        public static let invalidUTF8 = Kind(.invalidUTF8)
        /// More bytes than allowed.
        public static let tooLarge = Kind(.tooLarge)
        /// Arrays and objects nested deeper than allowed.
        public static let tooDeep = Kind(.tooDeep)
        /// An object repeats a member name (RFC 8259 §4: behaviour is then unpredictable).
        public static let duplicateKey = Kind(.duplicateKey)

        public var description: String {
            switch base {
            case .syntax: "syntax"
            case .invalidUTF8: "invalidUTF8"
            case .tooLarge: "tooLarge"
            case .tooDeep: "tooDeep"
            case .duplicateKey: "duplicateKey"
            }
        }
    }

    /// The class of failure.
    public var kind: Kind
    /// Byte offset of the offending byte in the input.
    public var offset: Int
    /// RFC 6901 pointer of the value concerned, `""` for the whole document.
    public var pointer: String
    /// A human-readable explanation, without the offset.
    public var message: String

    public init(kind: Kind, offset: Int, pointer: String = "", message: String) {
        self.kind = kind
        self.offset = offset
        self.pointer = pointer
        self.message = message
    }

    public var description: String { "\(message) at byte \(offset)" }
}
