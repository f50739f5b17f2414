public import Foundation
import Ledger
public import OICP

/// The rules an archive import follows, whoever reads the file: which idempotency key a line's
/// Error gets, and which of the parallel workers a line goes to.
///
/// ```swift
/// var plan = ImportPlan(workers: 3)
/// let (line, worker) = plan.place(number: 1, bytes: bytes, validation: validator.validate(bytes))
/// ```
public struct ImportPlan: Sendable {
    public let workers: Int
    /// How often each line content occurred so far (for Error keys).
    private var seen: [UUID: Int] = [:]

    public init(workers: Int) {
        precondition(workers > 0)
        self.workers = workers
    }

    /// The import line for `bytes`, and its worker.
    ///
    /// - An Error (which has no natural identity) gets the key `import-<digest of the line>-<n>`,
    ///   n counting earlier lines with the same bytes: importing the same file again stores
    ///   nothing, and two equal Errors in one file are two facts.
    /// - A line goes to the worker of its EVSE: a session happens at one EVSE, so one worker
    ///   gets all of a session's lines and all of an EVSE's, each in file order, and every EVSE
    ///   timeline comes out as ingesting the lines one by one would make it. A refused line goes
    ///   to worker 0.
    public mutating func place(
        number: Int, bytes: [UInt8], validation: Result<ValidatedNotification, ValidationFailure>
    ) -> (line: ImportLine, worker: Int) {
        guard case .success(let validated) = validation else { return (ImportLine(number: number, bytes: bytes, errorKey: ""), 0) }
        var errorKey = ""
        if validated.notification.type == .error {
            let digest = EventIdentity.nameBased(String(decoding: bytes, as: UTF8.self))
            let occurrence = seen[digest, default: 0]
            seen[digest] = occurrence + 1
            errorKey = "import-" + EventIdentity.text(of: digest, uppercase: false) + "-\(occurrence)"
        }
        let worker = Int(Self.stableHash(OperatorIdentity.normalized(operatorID: validated.notification.evseID)) % UInt64(workers))
        return (ImportLine(number: number, bytes: bytes, errorKey: errorKey), worker)
    }

    /// FNV-1a over the UTF-8 bytes: the same worker for the same EVSE in every run (Swift's
    /// `hashValue` is seeded per process).
    static func stableHash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}
