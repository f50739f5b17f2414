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

    init(store: EventStore, version: String) {
        self.version = version
        oldestOpenTransaction = RecentValue { [store] in
            try await store.oldestOpenTransactionAge().map(Self.seconds) ?? 0
        }
        unsealedAge = RecentValue { [store] in try await store.unsealedAge().map(Self.seconds) ?? 0 }
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
        ProcessFigures.read().render(into: &out)
    }
}
