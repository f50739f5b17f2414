import Foundation

/// A JSON object whose members keep their wire order.
///
/// Keys are compared by their exact UTF-8 bytes, as RFC 8259 §8.3 compares names code unit by
/// code unit (Swift's `String ==` would treat canonically equivalent spellings as equal).
/// Two objects are equal when they have the same members in the same order.
public struct JSONObject: Sendable, Hashable, RandomAccessCollection {
    public typealias Element = (key: String, value: JSONValue)
    public typealias Index = Int

    /// The member names, in wire order.
    public private(set) var keys: [String]
    /// The member values, parallel to `keys`.
    public private(set) var values: [JSONValue]

    /// An empty object.
    public init() {
        keys = []
        values = []
    }

    /// An object with `entries` in the given order; a repeated key replaces the earlier value
    /// in place.
    public init(_ entries: [(key: String, value: JSONValue)]) {
        self.init()
        for entry in entries { self[entry.key] = entry.value }
    }

    /// Builds an object from parallel arrays the parser has already checked for duplicates.
    package init(uncheckedKeys keys: [String], values: [JSONValue]) {
        self.keys = keys
        self.values = values
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { keys.count }

    public subscript(position: Int) -> Element {
        (keys[position], values[position])
    }

    /// The members in wire order.
    public var entries: [Element] { Array(self) }

    /// The value of the member named `key`; setting `nil` removes it, setting a new key
    /// appends it.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let index = index(forKey: key) else { return nil }
            return values[index]
        }
        set {
            if let index = index(forKey: key) {
                if let newValue {
                    values[index] = newValue
                } else {
                    keys.remove(at: index)
                    values.remove(at: index)
                }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    /// The position of the member named `key` (exact UTF-8 comparison).
    public func index(forKey key: String) -> Int? {
        keys.firstIndex { UTF8Bytes.equal($0, key) }
    }
}
