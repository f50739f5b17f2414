import EventStore
import Foundation

/// The figures every ledger process exposes, whatever it runs (`serve`, `projections run`): its
/// build, whether the database answers, the oldest open transaction in the cluster, and the
/// process's own memory, CPU and descriptors.
struct InstanceFigures: Sendable {
    let version: String
    /// Seconds; 0 when no transaction holds an xid. Read at most once a second.
    let oldestOpenTransaction: RecentValue<Double>

    init(store: EventStore, version: String) {
        self.version = version
        oldestOpenTransaction = RecentValue { [store] in
            try await store.oldestOpenTransactionAge().map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
        }
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
        ProcessFigures.read().render(into: &out)
    }
}
