import ArgumentParser
import Foundation
import HTTPServer

/// The HTTP server alone, answering `GET /healthz` with `ok`: for `wrk` against it, beside nginx
/// serving the same bytes.
struct BenchHTTP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http", abstract: "Serve GET /healthz (\"ok\\n\") on --port until SIGINT/SIGTERM, for load generators."
    )

    @Option(help: "Port on 127.0.0.1 (0: any free one, printed).") var port: Int = 8080

    func run() async throws {
        let server = Server(configuration: .init(port: port)) { request in
            request.head.target == "/healthz" ? .text(200, "ok\n") : .text(404, "not found\n")
        }
        let bound = try server.start()
        print("listening on 127.0.0.1:\(bound)")
        await untilTerminated()
        await server.shutdown()
    }
}
