/// OperatorIDs and the operator part of EvseIDs, compared as OICP defines them.
///
/// An OperatorID is `DE*A36` or `DEA36` (ISO: the `*` is optional) or `+49*536` (DIN), and an
/// EvseID begins with the operator that owns the EVSE (`DE*A36*E0001*1`, `+49*810*000*438`;
/// REFERENCE §3.3, §3.5). IDs are compared case-insensitively, without separators: `DE*A36`,
/// `DEA36` and `de*a36` are one operator. A hub partner sends its own OperatorID for its sub
/// partners' EVSEs (REFERENCE §3.3), so the operator of an EVSE is read from the EvseID, never
/// from the OperatorID beside it.
public enum OperatorIdentity {
    /// The comparable form of an OperatorID: upper case, without `*` or `+` (`DE*A36` → `DEA36`,
    /// `+49*536` → `49536`). Unambiguous: ISO ids begin with two letters, DIN ids are digits
    /// whose last three are the operator's.
    public static func normalized(operatorID: String) -> String {
        // ASCII (every id OICP's patterns accept) byte by byte; Unicode upper-casing otherwise.
        let ascii = operatorID.utf8.withContiguousStorageIfAvailable { bytes -> String? in
            guard !bytes.contains(where: { $0 >= 0x80 }) else { return nil }
            return String(unsafeUninitializedCapacity: bytes.count) { out in
                var count = 0
                for byte in bytes where byte != UInt8(ascii: "*") && byte != UInt8(ascii: "+") {
                    out[count] = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) ? byte - 0x20 : byte
                    count += 1
                }
                return count
            }
        }
        if let ascii = ascii ?? nil { return ascii }
        return String(String.UnicodeScalarView(operatorID.unicodeScalars.filter { $0 != "*" && $0 != "+" })).uppercased()
    }

    /// The comparable form of the operator an EvseID belongs to, or nil when `evseID` does not
    /// begin like an EvseID (`DE*A36*E…` → `DEA36`, `DEA36E…` → `DEA36`, `+49*810*…` → `49810`).
    public static func operatorOf(evseID: String) -> String? {
        let bytes = Array(evseID.utf8)
        func isLetter(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b | 0x20) }
        func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
        var index = 0
        var prefix: [UInt8] = []
        if bytes.count >= 5, isLetter(bytes[0]), isLetter(bytes[1]) {
            // ISO: country (2 letters), optional `*`, operator (3 letters or digits).
            prefix = Array(bytes[0..<2])
            index = 2
            if index < bytes.count, bytes[index] == UInt8(ascii: "*") { index += 1 }
            guard index + 3 <= bytes.count else { return nil }
            let part = bytes[index..<index + 3]
            guard part.allSatisfy({ isLetter($0) || isDigit($0) }) else { return nil }
            prefix += part
        } else {
            // DIN: optional `+`, country (1-3 digits), `*`, operator (3 digits).
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") { index += 1 }
            let start = index
            while index < bytes.count, isDigit(bytes[index]), index - start < 3 { index += 1 }
            guard index > start, index < bytes.count, bytes[index] == UInt8(ascii: "*") else { return nil }
            prefix = Array(bytes[start..<index])
            index += 1
            guard index + 3 <= bytes.count else { return nil }
            let part = bytes[index..<index + 3]
            guard part.allSatisfy(isDigit) else { return nil }
            prefix += part
        }
        return String(decoding: prefix, as: UTF8.self).uppercased()
    }

    /// Whether `evseID` is the same EVSE as `other`, as OICP compares ids (case and `*` aside).
    public static func sameEvse(_ evseID: String, _ other: String) -> Bool {
        equivalent(evseID, other)
    }

    /// Whether two ids have the same comparable form (`normalized`): compared byte by byte when
    /// both are ASCII, without building either form (every imported line compares its EVSE and
    /// operator with its session's first: 6% of an import's CPU built both forms).
    public static func equivalent(_ one: String, _ other: String) -> Bool {
        // Bytes, not `==`: canonical equivalence is not kept by upper-casing (U+0345 becomes
        // U+0399, which combining marks no longer move past), so equal strings may have unequal forms.
        if one.utf8.elementsEqual(other.utf8) { return true }
        var a = one.utf8.makeIterator()
        var b = other.utf8.makeIterator()
        func next(_ iterator: inout String.UTF8View.Iterator) -> UInt8?? {
            while let byte = iterator.next() {
                if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "+") { continue }
                if byte >= 0x80 { return .some(nil) }  // not ASCII: Unicode upper-casing decides
                return (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) ? byte - 0x20 : byte
            }
            return nil
        }
        while true {
            switch (next(&a), next(&b)) {
            case (nil, nil): return true
            case (.some(.some(let x)), .some(.some(let y))) where x == y: continue
            case (.some(.some), .some(.some)), (nil, .some(.some)), (.some(.some), nil): return false
            default: return normalized(operatorID: one) == normalized(operatorID: other)
            }
        }
    }

    /// A set of operators that a token is limited to, in comparable form.
    public struct Set: Sendable, Hashable {
        public let normalized: Swift.Set<String>

        public init(_ operatorIDs: some Sequence<String>) {
            normalized = Swift.Set(operatorIDs.map { OperatorIdentity.normalized(operatorID: $0) })
        }

        /// Whether `operatorID` is one of them.
        public func contains(operatorID: String) -> Bool {
            normalized.contains(OperatorIdentity.normalized(operatorID: operatorID))
        }

        /// Whether the operator `evseID` belongs to is one of them.
        public func contains(evseOf evseID: String) -> Bool {
            OperatorIdentity.operatorOf(evseID: evseID).map(normalized.contains) ?? false
        }
    }
}
