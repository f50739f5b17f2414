import EventStore
import Foundation

/// The figures every ledger process exposes, whatever it runs (`serve`, `projections run`): its
/// build, whether the database answers, the oldest open transaction in the cluster, how far
/// sealing is behind, and the process's own memory, CPU and descriptors.
struct InstanceFigures: Sendable {
    let version: String
    /// Seconds; 0 when no transaction holds an xid. Read at most once a second.
    let oldestOpenTransaction: RecentValue<Double>
    /// Seconds since the first event not sealed yet was recorded; 0 when all are. Read at most
    /// once a second.
    let unsealedAge: RecentValue<Double>
    /// When the oldest event kept was recorded (Unix seconds), and how many months ahead of this
    /// one have their partitions (db/0020). Read at most once a second.
    let retention: RecentValue<(oldest: Double?, ahead: Int)>

    init(store: EventStore, version: String) {
        self.version = version
        oldestOpenTransaction = RecentValue { [store] in
            try await store.oldestOpenTransactionAge().map(Self.seconds) ?? 0
        }
        unsealedAge = RecentValue { [store] in try await store.unsealedAge().map(Self.seconds) ?? 0 }
        retention = RecentValue { [store] in
            (try await store.oldestEventAt()?.timeIntervalSince1970, try await store.partitionsAhead())
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// - Parameter databaseAnswered: whether this scrape's own read of the database succeeded.
    func render(databaseAnswered: Bool, into out: inout Exposition) async {
        out.family("ledger_build_info", "gauge", "Always 1; the labels say which build runs.")
        out.sample("ledger_build_info", [("version", version)], "1")
        out.single("ledger_database_up", "gauge", "1 when the database answered the last read of these figures, else 0.", databaseAnswered ? 1 : 0)
        if let age = try? await oldestOpenTransaction.get() {
            out.single(
                "ledger_oldest_open_transaction_seconds", "gauge",
                "Age of the oldest transaction holding an xid in the cluster (gap-safe readers wait behind it; 0 when none).", age
            )
        }
        if let age = try? await unsealedAge.get() {
            out.single(
                "ledger_unsealed_seconds", "gauge",
                "Age of the oldest event no seal holds yet (0 when all are sealed); the active projector seals every 10 s.", age
            )
        }
        if let retention = try? await retention.get() {
            if let oldest = retention.oldest {
                out.single(
                    "ledger_oldest_event_timestamp_seconds", "gauge",
                    "When the oldest event kept was recorded (Unix time); LEDGER_RETENTION and `retention apply` move it.", oldest
                )
            }
            out.single(
                "ledger_event_partitions_ahead", "gauge",
                "Months after this one whose partitions of the store exist (made 3 ahead; at 0, appends fail next month).",
                Double(retention.ahead)
            )
        }
        ProcessFigures.read().render(into: &out)
    }
}
