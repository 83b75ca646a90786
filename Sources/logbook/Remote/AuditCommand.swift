import ArgumentParser
import Foundation
import Server

/// `logbook audit`: the audit trail through a running server, with the API's filters; the query is itself authorized
/// (`audit.read`) and recorded.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Query the audit trail of a running server: a table, --json (NDJSON) or --csv.",
        discussion:
            "The table shows one page (--limit, then --cursor to go on); --json and --csv print every matching entry.")

    @OptionGroup var remote: ServerOptions
    @Option(help: "Only this subject's entries.") var actor: String?
    @Option(help: "The workspace (default: the token's).") var workspace: String?
    @Option(help: "Only this action, e.g. tool.call.") var action: String?
    @Option(help: "Only resources starting with this.") var resource: String?
    @Option(help: "allow or deny.") var decision: String?
    @Option(help: "authorization, configuration, tool or llm.") var kind: String?
    @Option(help: "Not before this RFC 3339 time.") var from: String?
    @Option(help: "Not after this RFC 3339 time.") var through: String?
    @Flag(help: "Oldest first (default: newest first).") var oldest = false
    @Option(help: "Entries per page (table).") var limit = 50
    @Option(help: "The page after this cursor (the table's 'more' line).") var cursor: UInt64?
    @Flag(help: "Every matching entry as NDJSON.") var json = false
    @Flag(help: "Every matching entry as CSV.") var csv = false

    func validate() throws {
        guard !(json && csv) else { throw ValidationError("choose --json or --csv") }
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be between 1 and 1000") }
    }

    func run() async throws {
        let client = try remote.client()
        var query: [(String, String)] = [
            ("actor", actor), ("workspace", workspace), ("action", action), ("resource", resource),
            ("decision", decision), ("kind", kind), ("from", from), ("through", through),
        ]
        .compactMap { name, value in value.map { (name, $0) } }
        query.append(("order", oldest ? "oldest" : "newest"))
        if json || csv {
            query.append(("format", csv ? "csv" : "ndjson"))
            let answer = try await client.send(.GET, "/v1/audit/export?" + Self.encode(query))
            FileHandle.standardOutput.write(answer.body)
            return
        }
        query.append(("limit", String(limit)))
        if let cursor { query.append(("cursor", String(cursor))) }
        let answer = try await client.send(.GET, "/v1/audit?" + Self.encode(query))
        let page = try answer.decode(AuditPageBody.self)
        Table.print(
            ["SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE", "DECISION", "REASON"],
            page.entries.map { e in
                [
                    e.seq.description, e.time, e.actor, e.action, e.resource, e.decision ?? "-",
                    String(e.reason.prefix(80)),
                ]
            })
        if let next = page.next { FileHandle.standardError.write(Data("more: --cursor \(next)\n".utf8)) }
    }

    static func encode(_ query: [(String, String)]) -> String {
        query.map { "\($0.0)=\(APIClient.escape($0.1))" }.joined(separator: "&")
    }
}

/// `logbook threads`: the caller's threads on a running server, most recently active first.
struct ThreadsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threads", abstract: "List threads on a running server, most recent first.")

    @OptionGroup var remote: ServerOptions
    @Option(help: "At most this many.") var limit = 50
    @Flag(help: "Print the server's JSON.") var json = false

    func run() async throws {
        let answer = try await remote.client().send(.GET, "/v1/threads?limit=\(limit)")
        if json { return print(String(decoding: answer.body, as: UTF8.self)) }
        Table.print(
            ["ID", "OWNER", "LAST ACTIVITY", "MESSAGES", "RUNS", "STATUS", "TITLE"],
            try answer.decode(ThreadListBody.self).threads.map { t in
                [t.id, t.owner, t.lastActivity, String(t.messageCount), String(t.runCount), t.status, t.title ?? ""]
            })
    }
}
