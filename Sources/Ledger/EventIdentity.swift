import Crypto
public import Foundation
public import OICP

/// Event ids that make ingestion idempotent.
///
/// The id of a notification's event is a name-based UUID (RFC 9562 version 5) of, in order of
/// preference:
/// 1. the client's `Idempotency-Key`, scoped to the client, when given;
/// 2. the notification's natural identity where OICP gives it one: one Start and one End per
///    session, one Progress per `EventOccurred` instant;
/// 3. nothing: an Error without a key is a new fact each time, so it gets a random id.
///
/// Appending an event whose id is stored already is a replay: nothing is stored again and the
/// caller gets the original positions.
public enum EventIdentity {
    /// The ledger's namespace for version-5 ids.
    static let namespace = UUID(uuidString: "6f1c2a4e-8d0b-4f57-9a43-3c1e5b7d9e21")!

    public static func eventID(for notification: ChargingNotification, idempotencyKey: String?, client: String) -> UUID {
        if let idempotencyKey {
            return nameBased("idempotency-key\u{1F}\(client)\u{1F}\(idempotencyKey)")
        }
        switch notification.type {
        case .start:
            return nameBased("start\u{1F}\(notification.sessionID)")
        case .end:
            return nameBased("end\u{1F}\(notification.sessionID)")
        case .progress:
            let instant = notification.eventOccurred.map { String($0.epochMilliseconds) } ?? "none"
            return nameBased("progress\u{1F}\(notification.sessionID)\u{1F}\(instant)")
        case .error:
            return UUID()
        }
    }

    /// `8-4-4-4-12` hex, written by hand: Foundation's `uuidString` formats with `snprintf`, and
    /// an import names three ids per line (3% of its CPU).
    public static func text(of id: UUID, uppercase: Bool) -> String {
        let letters = uppercase ? UInt8(ascii: "A") : UInt8(ascii: "a")
        func digit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") + nibble : letters + nibble - 10 }
        return withUnsafeBytes(of: id.uuid) { raw in
            String(unsafeUninitializedCapacity: 36) { buffer in
                var at = 0
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        buffer[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    buffer[at] = digit(byte >> 4)
                    buffer[at + 1] = digit(byte & 0x0F)
                    at += 2
                }
                return at
            }
        }
    }

    /// RFC 9562 §5.5: SHA-1 of namespace bytes + name, version 5, variant 10.
    public static func nameBased(_ name: String) -> UUID {
        var hasher = Insecure.SHA1()
        withUnsafeBytes(of: namespace.uuid) { hasher.update(bufferPointer: $0) }
        hasher.update(data: Array(name.utf8))
        var bytes = Array(hasher.finalize().prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        ))
    }
}
