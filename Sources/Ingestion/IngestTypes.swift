public import EventStore
public import Foundation
public import Ledger
public import OICP

/// What `Ingestor.ingest` did.
public struct IngestOutcome: Sendable {
    public enum Disposition: Sendable {
        case appended(AppendedRange)
        case alreadyAppended(AppendedRange)
        case rejected([ValidationProblem])
    }

    public var disposition: Disposition
    public var eventID: UUID?
    /// The anomalies recorded on the event just appended; empty for a replay or a refusal.
    public var anomalies: [Anomaly]
    public var acknowledgement: Acknowledgement
    /// `Start`, `Progress`, `End` or `Error`; nil when the body was refused before its type was known.
    public var notificationType: String? = nil
}

/// One line of an NDJSON archive.
public struct ImportLine: Sendable {
    public var number: Int
    public var bytes: [UInt8]
    /// The idempotency key for an Error on this line: derived from the line's content and how
    /// often that content occurred before in the file.
    public var errorKey: String

    public init(number: Int, bytes: [UInt8], errorKey: String) {
        self.number = number
        self.bytes = bytes
        self.errorKey = errorKey
    }
}

public enum ImportLineOutcome: Sendable, Equatable {
    case appended
    case alreadyAppended
    case rejected([ValidationProblem])
    case failed(String)
}

public struct IngestError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The session kept changing under concurrent appends; sending again is safe.
        case conflict
        /// The Idempotency-Key was used before for a different notification.
        case idempotencyKeyReused = "idempotency_key_reused"
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
