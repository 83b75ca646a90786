import ArgumentParser
import Foundation

/// `logbook policy`: the authorization policy in the log, through a running server (each change authorized as
/// `policy.admin` and recorded as the token's subject).
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Show the authorization policy (now or at a seq), change it, or list its changes.",
        subcommands: [Show.self, Set.self, SetRole.self, RemoveRole.self, History.self], defaultSubcommand: Show.self)

    struct PolicyBody: Codable {
        let version: UInt64?
        let roles: [String: [String]]
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The roles and their permissions, and the policy's version.")
        @OptionGroup var remote: ServerOptions
        @Option(help: "The policy as it stood just after this seq.") var at: UInt64?
        @Flag(help: "Print the server's JSON.") var json = false

        func run() async throws {
            let answer = try await remote.client().send(.GET, "/v1/policy" + (at.map { "?at=\($0)" } ?? ""))
            if json { return print(String(decoding: answer.body, as: UTF8.self)) }
            let policy = try answer.decode(PolicyBody.self)
            print("version: \(policy.version.map(String.init) ?? "(the server's configured policy; none in the log)")")
            Table.print(
                ["ROLE", "PERMISSIONS"],
                policy.roles.sorted { $0.key < $1.key }.map { [$0.key, $0.value.joined(separator: " ")] })
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the whole policy with a JSON file ({\"roles\": {role: [permission]}}).")
        @OptionGroup var remote: ServerOptions
        @Argument(help: "The policy file.") var file: String
        @Option(help: "Why (recorded with the change).") var reason: String?

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file),
                let document = try? JSONDecoder().decode([String: [String: [String]]].self, from: data),
                let roles = document["roles"]
            else {
                throw ValidationError("\(file) is not JSON of the form {\"roles\": {\"role\": [\"permission\", …]}}")
            }
            struct Body: Encodable { let roles: [String: [String]]; let reason: String? }
            let answer = try await remote.client().send(.PUT, "/v1/policy", body: Body(roles: roles, reason: reason))
            print("policy replaced: version \(String(decoding: answer.body, as: UTF8.self).filter(\.isNumber))")
        }
    }

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-role", abstract: "Set one role's permissions.")
        @OptionGroup var remote: ServerOptions
        @Argument(help: "The role.") var role: String
        @Argument(help: "Its permissions (action[:pattern]).") var permissions: [String]
        @Option(help: "Why (recorded with the change).") var reason: String?

        func run() async throws {
            struct Body: Encodable { let permissions: [String]; let reason: String? }
            try await remote.client().send(
                .PUT, "/v1/policy/roles/\(APIClient.escape(role))", body: Body(permissions: permissions, reason: reason)
            )
            print("role \(role): \(permissions.joined(separator: " "))")
        }
    }

    struct RemoveRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove-role", abstract: "Remove a role.")
        @OptionGroup var remote: ServerOptions
        @Argument(help: "The role.") var role: String
        @Option(help: "Why (recorded with the change).") var reason: String?

        func run() async throws {
            let query =
                reason.flatMap { $0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) }.map {
                    "?reason=\($0)"
                } ?? ""
            try await remote.client().send(.DELETE, "/v1/policy/roles/\(APIClient.escape(role))\(query)")
            print("role \(role) removed")
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every change of the policy: version, time, who, what, why.")
        @OptionGroup var remote: ServerOptions
        @Flag(help: "Print the server's JSON.") var json = false

        func run() async throws {
            let answer = try await remote.client().send(.GET, "/v1/policy/history")
            if json { return print(String(decoding: answer.body, as: UTF8.self)) }
            struct Change: Decodable {
                let version: UInt64; let time: String; let actor: String?; let change: String; let role: String?;
                let reason: String?
            }
            struct Body: Decodable { let changes: [Change] }
            Table.print(
                ["VERSION", "TIME", "ACTOR", "CHANGE", "ROLE", "REASON"],
                try answer.decode(Body.self).changes.map { c in
                    [String(c.version), c.time, c.actor ?? "-", c.change, c.role ?? "-", c.reason ?? ""]
                })
        }
    }
}
