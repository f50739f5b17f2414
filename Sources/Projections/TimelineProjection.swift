/// A read model kept by folding the event store: a schema of tables with its own checkpoint,
/// its own projector and its own rebuild (db/0008).
///
/// | name | schema | tables |
/// | --- | --- | --- |
/// | `sessions` | `projection_sessions` | `sessions` (summary), `session_events` (timeline) |
/// | `evse_errors` | `projection_evse_errors` | `evse_errors` (EVSE timeline, fleet feed), `evse_summary`, `sessions` (fold state) |
public struct TimelineProjection: Sendable, Hashable, CustomStringConvertible {
    /// The name the CLI and the status report use.
    public let name: String
    /// The schema the live tables are in.
    public let schema: String
    /// Writes `session_events`.
    let keepsSessionTimeline: Bool
    /// Writes `evse_errors` and `evse_summary`.
    let keepsErrorTimeline: Bool

    public static let sessions = TimelineProjection(
        name: "sessions", schema: "projection_sessions", keepsSessionTimeline: true, keepsErrorTimeline: false
    )
    public static let evseErrors = TimelineProjection(
        name: "evse_errors", schema: "projection_evse_errors", keepsSessionTimeline: false, keepsErrorTimeline: true
    )
    public static let all = [sessions, evseErrors]

    public static func named(_ name: String) -> TimelineProjection? { all.first { $0.name == name } }

    public var description: String { name }

    /// The schema a rebuild fills before it is renamed into place.
    var buildSchema: String { schema + "_build" }
    /// The name the live schema has between the swap and its drop.
    var retiredSchema: String { schema + "_retired" }

    /// The checkpoint table of the live schema.
    var checkpoint: String { schema + ".checkpoint" }
    /// The lock the active projector of this read model holds.
    var projectorLockName: String { "projector:" + name }
    /// The subscription lock a rebuild holds (`Subscription.tryLock`).
    var rebuildLockName: String { "rebuild:" + name }
}
