import Foundation
import JSON
import Synchronization
public import Logging

/// `LEDGER_LOG_FORMAT=json`: one JSON object a line on standard error, for log collectors:
/// `time` (RFC 3339 UTC, milliseconds), `level`, `logger`, `message`, then the metadata's keys.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Serializes writes to standard error.
    private static let output = Mutex(())

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        var line: [UInt8] = []
        JSONValue.object(Self.fields(time: Date(), level: event.level, label: label, message: event.message.description, metadata: merged))
            .write(to: &line)
        line.append(0x0A)
        // A line at a time, whole (write(2) may take part of a long line): lines from several
        // threads never interleave.
        Self.output.withLock { _ in
            line.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Foundation.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        return  // standard error is gone: nothing to tell it
                    }
                }
            }
        }
    }

    static func fields(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> JSONObject {
        var fields: [(String, JSONValue)] = [
            ("time", .string(Self.rfc3339(time))), ("level", .string(level.rawValue)), ("logger", .string(label)), ("message", .string(message)),
        ]
        let reserved: Set<String> = ["time", "level", "logger", "message"]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields.append((reserved.contains(key) ? "meta_" + key : key, json(value)))
        }
        return JSONObject(fields)
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let items): .array(items.map(json))
        case .dictionary(let entries): .object(JSONObject(entries.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) }))
        }
    }

    /// `2026-12-07T10:00:00.123Z`.
    static func rfc3339(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        let millis = Int((date.timeIntervalSince1970 - Double(seconds)) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }
}
