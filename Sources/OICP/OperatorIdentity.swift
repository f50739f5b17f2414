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
        String(String.UnicodeScalarView(operatorID.unicodeScalars.filter { $0 != "*" && $0 != "+" })).uppercased()
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
        normalized(operatorID: evseID) == normalized(operatorID: other)
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
