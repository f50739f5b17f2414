public import Foundation

/// What an append expects of its stream, for optimistic concurrency.
public enum ExpectedVersion: Sendable, Hashable {
    /// Append whatever the stream holds.
    case any
    /// The stream must not exist yet.
    case noStream
    /// The stream's version must be exactly this (the number of events in it).
    case exact(Int)

    /// The version the stream must have: nil for any, 0 for no stream.
    var required: Int? {
        switch self {
        case .any: nil
        case .noStream: 0
        case .exact(let version): version
        }
    }

    var json: String { required.map(String.init) ?? "null" }
}

/// An event to append. `data` and `metadata` are JSON text (objects).
public struct NewEvent: Sendable, Hashable {
    public var id: UUID
    public var type: String
    public var data: String
    public var metadata: String

    public init(id: UUID = UUID(), type: String, data: String, metadata: String = "{}") {
        self.id = id
        self.type = type
        self.data = data
        self.metadata = metadata
    }
}

/// One append: events for one stream, all or nothing.
public struct AppendRequest: Sendable, Hashable {
    public var stream: String
    public var expected: ExpectedVersion
    public var events: [NewEvent]

    public init(stream: String, expected: ExpectedVersion = .any, events: [NewEvent]) {
        self.stream = stream
        self.expected = expected
        self.events = events
    }
}

/// Where an append's events are (or, for a replay, were) stored.
public struct AppendedRange: Sendable, Hashable {
    /// The stream's version after the append: the version of its last event.
    public var streamVersion: Int
    public var firstPosition: Int64
    public var lastPosition: Int64
    /// The transaction that stored them, on the ledger's transaction clock.
    public var transactionID: UInt64

    public init(streamVersion: Int, firstPosition: Int64, lastPosition: Int64, transactionID: UInt64) {
        self.streamVersion = streamVersion
        self.firstPosition = firstPosition
        self.lastPosition = lastPosition
        self.transactionID = transactionID
    }
}

/// What an append did.
public enum AppendResult: Sendable, Hashable {
    /// The events were stored, durably: the commit returned.
    case appended(AppendedRange)
    /// Every event id was stored before: nothing was stored again. The original positions.
    case alreadyAppended(AppendedRange)
    /// The stream's version was not what the append expected; nothing was stored.
    case conflict(expected: ExpectedVersion, actual: Int)

    /// The stored range, for either success.
    public var range: AppendedRange? {
        switch self {
        case .appended(let range), .alreadyAppended(let range): range
        case .conflict: nil
        }
    }
}

/// A position in the gap-safe global order: events are read in `(transactionID, position)`
/// order, and a reader's checkpoint is the pair of the last event it read.
///
/// Its text form, `<transactionID>-<position>`, is what the REST API hands out as a cursor.
public struct ReadCursor: Sendable, Hashable, Comparable, LosslessStringConvertible, Codable {
    public var transactionID: UInt64
    public var position: Int64

    public static let start = ReadCursor(transactionID: 0, position: 0)

    public init(transactionID: UInt64, position: Int64) {
        self.transactionID = transactionID
        self.position = position
    }

    /// Parses `<transactionID>-<position>`, each plain decimal digits (no sign: `UInt64(_:)` alone
    /// would take `+5-+3` for `5-3`), as the feed hands them out.
    public init?(_ description: String) {
        let parts = description.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let tx = plainDecimal(parts[0], as: UInt64.self), let position = plainDecimal(parts[1], as: Int64.self) else { return nil }
        self.init(transactionID: tx, position: position)
    }

    public var description: String { "\(transactionID)-\(position)" }

    public static func < (a: ReadCursor, b: ReadCursor) -> Bool {
        (a.transactionID, a.position) < (b.transactionID, b.position)
    }
}

/// An event as stored.
public struct RecordedEvent: Sendable, Hashable {
    public var globalPosition: Int64
    public var streamID: String
    public var streamVersion: Int
    public var eventID: UUID
    public var eventType: String
    /// JSON text.
    public var data: String
    /// JSON text.
    public var metadata: String
    public var transactionID: UInt64
    public var recordedAt: Date

    public var cursor: ReadCursor { ReadCursor(transactionID: transactionID, position: globalPosition) }
}

/// A page of the global order.
public struct ReadAllPage: Sendable {
    public var events: [RecordedEvent]
    /// Where the next read starts: the last event's cursor, or the one passed in.
    public var next: ReadCursor
}
