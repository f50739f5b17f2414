import API
import ArgumentParser
import CLISupport
import Foundation
import Postgres

/// `error-ledger token create|revoke|list`: the REST API's bearer tokens.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, revoke and list REST API bearer tokens (stored hashed).",
        subcommands: [Create.self, Revoke.self, List.self]
    )

    static func store(_ database: DatabaseOptions) throws -> (TokenStore, PostgresPool) {
        _ = try database.bootstrapLogging()
        let pool = PostgresPool(configuration: .init(url: try database.url(), maxConnections: 1))
        return (TokenStore(pool: pool), pool)
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print it: it is shown this once.")

        @OptionGroup var database: DatabaseOptions
        @Option(help: "A unique name: letters, digits, '.', '_', '-'.") var name: String
        @Option(help: "Comma-separated: ingest, read, admin.") var scopes: String
        @Option(name: .customLong("operator"), help: "Limit the token to this OperatorID; repeatable.") var operators: [String] = []

        func run() async throws {
            var parsed: Set<TokenScope> = []
            for scope in scopes.split(separator: ",") {
                guard let known = TokenScope(rawValue: scope.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("unknown scope \"\(scope)\"; scopes are ingest, read, admin")
                }
                parsed.insert(known)
            }
            guard !parsed.isEmpty else { throw ValidationError("--scopes needs at least one of ingest, read, admin") }
            let (store, pool) = try TokenCommand.store(database)
            defer { pool.close() }
            do {
                let (token, text) = try await store.create(name: name, scopes: parsed, operatorIDs: operators.isEmpty ? nil : operators)
                print(text)
                printError("token \(token.name) created (\(token.scopes.sorted().map(\.rawValue).joined(separator: ","))); it is not shown again")
            } catch let error as PostgresError where error.isUniqueViolation {
                printError("a live token named \(name) exists; revoke it first")
                throw ExitCode(1)
            } catch let error as PostgresError where error.sqlState == "23514" {
                printError("the name may hold only letters, digits, '.', '_' and '-' (at most 100)")
                throw ExitCode(1)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke the live token of a name.")

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The token's name.") var name: String

        func run() async throws {
            let (store, pool) = try TokenCommand.store(database)
            defer { pool.close() }
            guard try await store.revoke(name: name) else {
                printError("no live token named \(name)")
                throw ExitCode(1)
            }
            printError("token \(name) revoked")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let (store, pool) = try TokenCommand.store(database)
            defer { pool.close() }
            for token in try await store.list() {
                let state = token.revokedAt.map { "revoked " + ISO8601DateFormatter().string(from: $0) } ?? "live"
                let operators = token.operatorIDs?.joined(separator: ",") ?? "all operators"
                print("\(token.name)\t\(token.scopes.sorted().map(\.rawValue).joined(separator: ","))\t\(operators)\t\(state)")
            }
        }
    }
}
