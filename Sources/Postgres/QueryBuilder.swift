/// Builds a statement from parts, every value a parameter (`$1`, `$2`, …): for statements whose
/// shape depends on the data (a list of CTEs, optional filters).
///
/// ```swift
/// var builder = QueryBuilder()
/// let sql = "SELECT * FROM app.items WHERE owner = \(builder.bind(owner))"
/// try session.prepared(builder.query(sql))
/// ```
public struct QueryBuilder: Sendable {
    private var binds: [String?] = []

    public init() {}

    /// The placeholder of `value`, bound.
    public mutating func bind(_ value: some PostgresEncodable) -> String {
        binds.append(value.postgresText)
        return "$\(binds.count)"
    }

    public func query(_ sql: String) -> PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
