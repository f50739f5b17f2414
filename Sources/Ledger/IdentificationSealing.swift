import Crypto
public import Foundation
import JSON
public import OICP

/// What identifies a driver in a notification, as the ledger keeps it: never in the clear
/// (db/0019, crypto-shredding).
///
/// - A **subject** is HMAC-SHA256 under the ledger's pepper over a kind and a value
///   (`UID:04A2B3C4`, `EVCOID:DE8EOCAET5E4XY3`: upper-cased, an EVCO-ID without its separators, as
///   Hubject compares them). Erasure names a subject; the database never sees the value.
/// - A **key** per identification, found by its primary subject (the UID of an RFID option, else
///   the EVCO-ID), seals the body as received with AES-256-GCM. Erasing a subject deletes every
///   key it was seen with, and what they sealed can no longer be read.
///
/// ```swift
/// let pepper = IdentificationPepper(bytes: …)
/// let subjects = IdentificationSubjects(notification.identification!, pepper: pepper)
/// let box = try SealedBox.seal(Array(rawBody.utf8), with: key)
/// ```
public struct IdentificationPepper: Sendable {
    let bytes: [UInt8]

    /// At least 32 bytes: from `LEDGER_IDENTIFICATION_PEPPER` or the database's own (db/0019).
    public init?(bytes: [UInt8]) {
        guard bytes.count >= 32 else { return nil }
        self.bytes = bytes
    }

    /// A keyed hash of a fixed text: the database records the first one it sees, so that every
    /// process names identifications with the same pepper.
    public var checkValue: [UInt8] {
        keyedHash("error-ledger identification pepper")
    }

    /// `value` at `pointer` as the content digest covers it: a keyed hash, base64.
    public func keyedLeaf(_ value: String, at pointer: String) -> String {
        let input = "LEAF:" + pointer + "\u{1F}" + value
        return Data(keyedHash(input)).base64EncodedString()
    }

    /// The subject of `value` of `kind`, as the database keeps it (32 bytes).
    public func subject(_ kind: IdentificationSubjects.Kind, _ value: String) -> [UInt8] {
        let canonical = kind.rawValue + ":" + IdentificationSubjects.canonical(value, kind: kind)
        return keyedHash(canonical)
    }

    /// HMAC-SHA256 of `text` under the pepper: every keyed hash the ledger keeps.
    private func keyedHash(_ text: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: bytes)))
    }
}

/// The subjects one identification carries: the primary one (whose key seals the notification)
/// first.
public struct IdentificationSubjects: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        case uid = "UID"
        case evcoID = "EVCOID"
    }

    /// The primary subject: the UID of an RFID option, else the EVCO-ID.
    public let primary: [UInt8]
    /// Every subject, the primary first.
    public let all: [[UInt8]]

    public init(_ identification: Identification, pepper: IdentificationPepper) {
        var values: [(Kind, String)]
        switch identification {
        case .rfidMifareFamily(let uid): values = [(.uid, uid)]
        case .rfid(let uid, _, let evcoID, _, _): values = [(.uid, uid)] + (evcoID.map { [(.evcoID, $0)] } ?? [])
        case .qrCode(let evcoID, _, _), .plugAndCharge(let evcoID), .remote(let evcoID): values = [(.evcoID, evcoID)]
        }
        all = values.map { pepper.subject($0.0, $0.1) }
        primary = all[0]
    }

    /// Upper-cased; an EVCO-ID without `-` and `*` (`DE-8EO-CAet5e4XY-3` and `DE8EOCAET5E4XY3` are one).
    public static func canonical(_ value: String, kind: Kind) -> String {
        let upper = value.uppercased()
        return kind == .evcoID ? upper.filter { $0 != "-" && $0 != "*" } : upper
    }
}

/// A key that seals the notifications of one identification (db/0019 `identification_keys`).
public struct IdentificationKey: Sendable, Hashable {
    public let id: UUID
    public let bytes: [UInt8]

    public init(id: UUID, bytes: [UInt8]) {
        self.id = id
        self.bytes = bytes
    }

    /// A new random key, to store when the identification has none yet.
    public static func random() -> IdentificationKey {
        IdentificationKey(id: UUID(), bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }
}

/// AES-256-GCM: a random 96-bit nonce, the ciphertext and the tag, as one base64 text.
public enum SealedBox {
    public static func seal(_ plaintext: [UInt8], with key: IdentificationKey) throws -> String {
        let box = try AES.GCM.seal(plaintext, using: SymmetricKey(data: key.bytes))
        guard let combined = box.combined else { throw CryptoKitError.incorrectParameterSize }
        return combined.base64EncodedString()
    }

    /// Nil when `text` was not sealed with `key` (or was altered).
    public static func open(_ text: String, with key: IdentificationKey) -> [UInt8]? {
        guard let data = Data(base64Encoded: text), let box = try? AES.GCM.SealedBox(combined: data),
            let plaintext = try? AES.GCM.open(box, using: SymmetricKey(data: key.bytes))
        else { return nil }
        return Array(plaintext)
    }
}

/// An erasure request: which identification, by whom; and the event that records it (in the
/// stream `erasures-YYYY-MM` (one a month), with the subject, never the value).
public struct IdentificationErasure: Sendable {
    public let kind: IdentificationSubjects.Kind
    public let subject: [UInt8]
    public let requestedBy: String
    public let requestedAt: Date

    /// Nil with the reason when `value` cannot be an identification of `kind`: 1 to 100
    /// letters, digits, `-` or `*` (a UID is hexadecimal; an EVCO-ID may be written with
    /// separators).
    public static func validate(_ value: String, kind: IdentificationSubjects.Kind) -> String? {
        guard !value.isEmpty, value.utf8.count <= 100 else { return "must be 1 to 100 characters" }
        let allowed = kind == .uid ? Self.hexDigits : Self.evcoCharacters
        guard value.unicodeScalars.allSatisfy(allowed.contains) else {
            return kind == .uid ? "must be hexadecimal digits (an RFID card's UID)" : "must be letters, digits, '-' or '*' (an EVCO-ID)"
        }
        return nil
    }

    /// Nil with the reason when `requestedBy` cannot be kept with the erasure: 1 to 200
    /// characters, and not holding the value erased (it is kept for as long as the store lives).
    public static func validate(requestedBy: String, erasing value: String, kind: IdentificationSubjects.Kind) -> String? {
        guard (1...200).contains(requestedBy.count) else { return "must be 1 to 200 characters" }
        let needle = IdentificationSubjects.canonical(value, kind: kind)
        if IdentificationSubjects.canonical(requestedBy, kind: kind).contains(needle) {
            return "must not hold the identification erased: it is kept in the erasure's event for as long as the ledger keeps events"
        }
        return nil
    }

    private static let hexDigits = CharacterSet(charactersIn: "0123456789abcdefABCDEF")
    private static let evcoCharacters = CharacterSet(charactersIn: "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-*")

    public init(kind: IdentificationSubjects.Kind, value: String, pepper: IdentificationPepper, requestedBy: String, at: Date) {
        self.kind = kind
        self.subject = pepper.subject(kind, value)
        self.requestedBy = requestedBy
        self.requestedAt = at
    }

    /// The subject as the event and the answer give it (base64 of the keyed hash).
    public var subjectText: String { Data(subject).base64EncodedString() }

    /// The `IdentificationErased` event's `data` (the store adds `keys_deleted`).
    public var eventData: String {
        JSONValue.object(
            JSONObject([
                ("subject", .string(subjectText)), ("kind", .string(kind.rawValue)), ("requested_by", .string(requestedBy)),
                ("requested_at", .string(rfc3339(requestedAt))),
            ])
        ).serialized()
    }
}
