import Foundation
import HTTPServer
import JSON
import Ledger
import Postgres
import Projections

/// The `/v1/statistics` endpoints and an EVSE's reliability: the fault history counted per
/// bucket, ranked fairly, per EVSE over any window. Each needs `read`; a token limited to
/// OperatorIDs counts only their EVSEs' errors and sessions. Windows default to the 30 days
/// before now and are taken to whole buckets (the answer says which).
extension Endpoints {
    func statisticsSeries(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        let parameters = try QueryParameters(
            match.target, allowed: ["from", "to", "bucket", "time_zone", "group_by", "operator", "evse", "type"]
        )
        let representation = try Representation.negotiate(request.head.headers["accept"])
        let bucket = try parameters.choice("bucket", of: StatisticsBucket.self) ?? .day
        let groupBy = try parameters.choice("group_by", of: SeriesGrouping.self) ?? SeriesGrouping.none
        let window = try statisticsWindow(parameters, bucket: bucket)
        let scope = try statisticsScope(parameters, token, evse: true)
        let series = try await withStatisticsProblems {
            try await statistics.series(SeriesRequest(window: window, groupBy: groupBy, scope: scope))
        }
        return records(representation, series.points, columns: SeriesPoint.fieldNames) { items in
            "{\(Self.windowJSON(window)),\"group_by\":\(FieldValue.string(groupBy.rawValue).json),\"points\":[\(items)]}"
        }
    }

    func statisticsRankings(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        let parameters = try QueryParameters(match.target, allowed: ["from", "to", "by", "min_sessions", "operator", "type", "limit"])
        let representation = try Representation.negotiate(request.head.headers["accept"])
        let metric = try parameters.choice("by", of: RankingMetric.self) ?? .errorsPerSession
        let minSessions = try parameters.integer("min_sessions", in: 1...1_000_000) ?? RankingRequest.defaultMinSessions
        let limit = try parameters.integer("limit", in: 1...StatisticsQueries.maxRankingLimit) ?? RankingRequest.defaultLimit
        let window = try statisticsWindow(parameters, bucket: .hour)
        let scope = try statisticsScope(parameters, token, evse: false)
        let ranking = try await statistics.rankings(
            RankingRequest(window: window, metric: metric, minSessions: minSessions, limit: limit, scope: scope)
        )
        return records(representation, ranking, columns: EvseRanking.fieldNames) { items in
            "{\(Self.windowJSON(window)),\"by\":\(FieldValue.string(metric.rawValue).json),\"min_sessions\":\(minSessions),\"items\":[\(items)]}"
        }
    }

    func statisticsMessages(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        let parameters = try QueryParameters(match.target, allowed: ["from", "to", "operator", "evse", "type", "limit"])
        let representation = try Representation.negotiate(request.head.headers["accept"])
        let limit = try parameters.integer("limit", in: 1...100) ?? MessagesRequest.defaultLimit
        let window = try statisticsWindow(parameters, bucket: .hour)
        let scope = try statisticsScope(parameters, token, evse: true)
        let messages = try await statistics.messages(MessagesRequest(window: window, limit: limit, scope: scope))
        return records(representation, messages, columns: ErrorMessageCount.fieldNames) { items in
            "{\(Self.windowJSON(window)),\"items\":[\(items)]}"
        }
    }

    func evseReliability(_ request: HTTPRequest, _ match: RouteMatch) async throws -> HTTPResponse {
        let token = try await authenticator.authenticate(request, scope: .read)
        let parameters = try QueryParameters(match.target, allowed: ["from", "to"])
        let evseID = match.parameters["evseID"] ?? ""
        let window = try statisticsWindow(parameters, bucket: .hour)
        guard token.sees(evse: evseID), let figures = try await statistics.reliability(evseID, window: window) else {
            throw APIProblem.notFound("no EVSE \(evseID) in the ledger")
        }
        return .json(200, figures.json)
    }

    // MARK: - Shared

    private var statistics: StatisticsQueries { StatisticsQueries(store: store) }

    /// `from` and `to` (default: the 30 days before now) in `time_zone` (default UTC), taken to
    /// whole buckets.
    private func statisticsWindow(_ parameters: QueryParameters, bucket: StatisticsBucket) throws(APIProblem) -> StatisticsWindow {
        let window = try parameters.window()
        let to = window.to ?? Date()
        let from = window.from ?? to.addingTimeInterval(-StatisticsWindow.defaultSpan)
        let zone = try parameters.string("time_zone", maxLength: 64) ?? "UTC"
        do {
            return try StatisticsWindow(from: from, to: to, bucket: bucket, timeZone: zone)
        } catch {
            throw .invalid(error.parameter, error.reason)
        }
    }

    /// `operator`, `evse` (where the endpoint takes it) and `type`, within what the token sees.
    private func statisticsScope(_ parameters: QueryParameters, _ token: APIToken, evse takesEvse: Bool) throws(APIProblem) -> StatisticsScope {
        var scope = StatisticsScope(operatorIDs: token.operatorIDs, errorTypes: try parameters.errorTypes("type"))
        if let operatorID = try parameters.string("operator", maxLength: 64) {
            guard token.sees(operator: operatorID) else { throw .notFound("no operator \(operatorID) in the ledger") }
            scope.operatorID = operatorID
        }
        if takesEvse, let evseID = try parameters.string("evse", maxLength: 64) {
            guard token.sees(evse: evseID) else { throw .notFound("no EVSE \(evseID) in the ledger") }
            scope.evseID = evseID
        }
        return scope
    }

    /// A series too large to answer, and a zone PostgreSQL does not know (its tzdata may be older
    /// than Foundation's), as the client's mistakes they are.
    private func withStatisticsProblems<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch StatisticsError.tooManyPoints {
            throw APIProblem.invalid("group_by", StatisticsError.tooManyPoints.description)
        } catch let error as PostgresError where error.sqlState == "22023" {
            throw APIProblem.invalid("time_zone", "the database does not know this time zone")
        }
    }

    static func windowJSON(_ window: StatisticsWindow) -> String {
        [
            ("from", FieldValue.date(window.from)), ("to", .date(window.to)), ("bucket", .string(window.bucket.rawValue)),
            ("time_zone", .string(window.timeZoneName)),
        ].map { FieldValue.string($0.0).json + ":" + $0.1.json }.joined(separator: ",")
    }

    /// Rows as a JSON document (`wrap` puts the comma-separated objects in it), CSV or NDJSON.
    func records<Item: ReadModelRecord>(
        _ representation: Representation, _ items: [Item], columns: [String], wrap: (String) -> String
    ) -> HTTPResponse {
        switch representation {
        case .page:
            return .json(200, wrap(items.map(\.json).joined(separator: ",")))
        case .csv:
            let text = CSV.line(columns) + items.map { $0.csvLine(columns) }.joined()
            return HTTPResponse(
                status: 200, headers: HTTPHeaders([("Content-Type", "text/csv; charset=utf-8; header=present"), ("Cache-Control", "no-store")]),
                body: .bytes(Array(text.utf8))
            )
        case .ndjson:
            let text = items.map { $0.json + "\n" }.joined()
            return HTTPResponse(
                status: 200, headers: HTTPHeaders([("Content-Type", Representation.ndjsonType), ("Cache-Control", "no-store")]),
                body: .bytes(Array(text.utf8))
            )
        }
    }
}
