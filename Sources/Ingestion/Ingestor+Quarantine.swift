public import EventStore
public import Foundation
import JSON
public import Ledger
import Logging
public import OICP
import Postgres
import Synchronization

/// Refused notifications: kept (capped per window) in a quarantine stream of the day.
extension Ingestor {
    // MARK: - Quarantine

    /// Records a refused body, unless this window's cap is reached; then it is only counted,
    /// and the count is recorded as `RejectionsDropped` when the window closes.
    public func quarantine(_ body: [UInt8], problems: [ValidationProblem], context: IngestContext) async {
        let windowLength = Double(configuration.quarantineWindow.components.seconds)
        let (store, closedWindow) = quarantine.withLock { window -> (Bool, (count: Int, start: Date)?) in
            var closed: (Int, Date)?
            if context.receivedAt.timeIntervalSince(window.start) >= windowLength {
                if window.dropped > 0 { closed = (window.dropped, window.start) }
                window = QuarantineWindow(start: context.receivedAt, droppedTotal: window.droppedTotal)
            }
            if window.stored < configuration.quarantinePerWindow {
                window.stored += 1
                return (true, closed)
            }
            window.dropped += 1
            window.droppedTotal += 1
            return (false, closed)
        }
        var events: [DecidedEvent] = []
        if let closedWindow {
            events.append(
                NotificationDecision.rejectionsDropped(
                    count: closedWindow.count, windowStart: closedWindow.start,
                    windowEnd: closedWindow.start.addingTimeInterval(windowLength), context: context
                )
            )
        }
        do {
            if store {
                // A key of its own, linked to no subject: an erasure finds it by opening the box.
                let key = IdentificationKey.random()
                try await self.store.storeRejectionKey(key)
                events.append(
                    try NotificationDecision.rejection(
                        rawBody: body, problems: problems, context: context, rawCap: configuration.quarantineRawBytes, sealing: key
                    )
                )
            }
        } catch {
            logger.warning("could not seal a refused notification; it is not kept", metadata: LogMetadata.error(error))
        }
        for event in events {
            do {
                _ = try await self.store.append(to: event.stream, events: [NewEvent(event)])
            } catch {
                // The client still gets its rejection; the quarantine is best effort.
                logger.warning("could not record a refused notification", metadata: LogMetadata.error(error))
            }
        }
    }

    /// The SessionID of a refused body, if it has a usable one, to echo in the acknowledgement.
    static func sessionID(in body: [UInt8]) -> String? {
        guard body.count <= 65_536, let value = try? JSONParser.parse(body, maxDepth: 16, maxBytes: 65_536),
            let id = value["SessionID"]?.stringValue, id.utf8.count == 36
        else { return nil }
        return id
    }
}
