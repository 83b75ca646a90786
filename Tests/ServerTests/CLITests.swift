import EventStore
import Foundation
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
@testable import Server
import Testing

/// The `logbook` command line against a live server and its log: the registry commands, chat, threads, audit, tail
/// and backup, run as a user runs them (the built binary, its output and exit status).
@Suite(.serialized) struct CLITests {
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("logbook").path

    /// Runs `logbook` with `arguments` against the server on `port` as `token`.
    static func logbook(
        _ arguments: [String], port: Int? = nil, token: String? = nil
    ) async throws -> (status: Int32, output: String, errors: String) {
        var remote: [String] = []
        if let port { remote += ["--server", "http://127.0.0.1:\(port)"] }
        if let token { remote += ["--token", token] }
        // Before a `--` (after it come a stdio server's command and arguments).
        var all = arguments
        all.insert(contentsOf: remote, at: arguments.firstIndex(of: "--") ?? arguments.endIndex)
        return try await LiveProcess.run([binary] + all)
    }

    /// Runs `logbook` as an administrator against `port`, expecting success: its standard output.
    static func succeeding(port: Int) -> @Sendable ([String]) async throws -> String {
        let admin = ServerTests.token(subject: "user:root", roles: ["admin"])
        return { arguments in
            let (status, output, errors) = try await Self.logbook(arguments, port: port, token: admin)
            #expect(status == 0, "logbook \(arguments.joined(separator: " ")) failed: \(errors)")
            return output
        }
    }

    @Test func theRegistryChatThreadsAuditTailAndBackupCommandsWorkAgainstALiveServer() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.binary),
            "build the logbook product first (swift build --build-tests builds it)")
        try await ServerTests.withServer(configure: { $0.rateLimit = nil }) { app, llm in
            try await app.application.test(.live) { client in
                let port = try #require(client.port)
                let admin = ServerTests.token(subject: "user:root", roles: ["admin"])
                let run = Self.succeeding(port: port)

                // Registry: set, list, default, remove — each an event with the acting subject.
                #expect(
                    try await run(["models", "set", "scripted", "--provider", "openai", "--endpoint", llm.baseURL])
                        .contains("registered"))
                #expect(try await run(["models", "default", "scripted"]).contains("org default: scripted"))
                let models = try await run(["models", "list"])
                #expect(models.contains("scripted"))
                #expect(models.contains(llm.baseURL))
                #expect(models.contains("org default: scripted"))
                #expect(
                    try await run(["mcp", "set", "time", "--", "mcp-server-time", "--local-timezone", "UTC"]).contains(
                        "registered"))
                #expect(try await run(["mcp", "list"]).contains("mcp-server-time --local-timezone UTC"))
                #expect(
                    try await run(["agents", "set", "ops", "--instructions", "You run operations.", "--tool", "time/*"])
                        .contains("defined"))
                #expect(try await run(["agents", "list"]).contains("time/*"))
                #expect(try await run(["mcp", "remove", "time"]).contains("removed"))
                let registry = try await run(["mcp", "list", "--json"])
                #expect(!registry.contains("mcp-server-time"))

                // A bad change is refused with the server's message and a non-zero status.
                let refused = try await Self.logbook(
                    ["models", "set", "bad", "--provider", "nope", "--endpoint", "http://x"], port: port, token: admin)
                #expect(
                    refused.status != 0,
                    "\(refused.errors)")
                #expect(
                    refused.errors.contains("422"),
                    "\(refused.errors)")
                #expect(
                    refused.errors.contains("not supported"),
                    "\(refused.errors)")
                // An environment the registry does not know is refused before anything is sent.
                let unknown = try await Self.logbook(
                    ["models", "set", "bad", "--provider", "openai", "--endpoint", "http://x", "--environment", "QA"],
                    port: port, token: admin)
                #expect(unknown.status != 0, "\(unknown.errors)")
                #expect(unknown.errors.contains("LAB, NONPROD or PROD, not 'QA'"), "\(unknown.errors)")
                // A token without the permission: 403, recorded.
                let operatorToken = ServerTests.token()
                let denied = try await Self.logbook(["models", "remove", "scripted"], port: port, token: operatorToken)
                #expect(denied.status != 0, "\(denied.errors)")
                #expect(denied.errors.contains("403"), "\(denied.errors)")

                // Chat (streamed): the answer on standard output, the run's summary on standard error.
                llm.enqueue(
                    .sse(events: [
                        Wire.chunk(content: "All "), Wire.chunk(content: "green."), Wire.chunk(finish: "stop"),
                        Wire.usageChunk(9, 2), "[DONE]",
                    ]))
                let (chatStatus, answer, summary) = try await Self.logbook(
                    ["chat", "--thread", "cli-1", "--message", "How are the pods?"], port: port, token: admin)
                #expect(chatStatus == 0, "\(answer) \(summary)")
                #expect(answer == "All green.\n", "\(answer) \(summary)")
                #expect(summary.contains("completed"))
                #expect(summary.contains("9+2 tokens"))
                #expect(try await run(["threads"]).contains("cli-1"))
                // --model names the turn's model: one that is not registered is refused, saying so.
                let unknownModel = try await Self.logbook(
                    ["chat", "--thread", "cli-1", "--model", "nope", "--message", "again?"], port: port, token: admin)
                #expect(unknownModel.status != 0)
                #expect(unknownModel.errors.contains("no model named 'nope'"), "\(unknownModel.errors)")

                // Audit: the denial above, as a table and as CSV.
                let table = try await run(["audit", "--decision", "deny"])
                #expect(table.contains("registry.admin"))
                #expect(table.contains("user:alice"))
                let csv = try await run(["audit", "--actor", "user:alice", "--csv"])
                #expect(csv.hasPrefix("seq,time,kind,actor"))
                #expect(csv.contains("deny"))

                // Tail (the log, read-only beside the server) and backup (a verified copy while the server runs).
                let dataDirectory = app.store.directory
                let tail = try await Self.logbook(["tail", "-n", "5", "--data", dataDirectory, "--json"])
                let lines = tail.output.split(separator: "\n")
                #expect(tail.status == 0, "\(tail.errors)")
                #expect(lines.count == 5, "\(tail.errors)")
                #expect(
                    lines.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }?[
                        "seq"] as? Int == Int(app.store.lastSeq.rawValue))
                let backupDirectory = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "logbook-cli-backup-\(UUID().uuidString)"
                ).path
                defer { try? FileManager.default.removeItem(atPath: backupDirectory) }
                let backup = try await Self.logbook(["backup", "--data", dataDirectory, "--to", backupDirectory])
                #expect(backup.status == 0, "\(backup.errors)")
                #expect(backup.output.contains("verified"), "\(backup.errors)")

                // Export (zstd) and import into a new log: its plain export is the original's, byte for byte (times too).
                let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "logbook-cli-export-\(UUID().uuidString)"
                ).path
                defer { try? FileManager.default.removeItem(atPath: scratch) }
                try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
                for arguments in [
                    ["export", "--data", backupDirectory, "--out", scratch + "/log.ndjson.zst"],
                    ["export", "--data", backupDirectory, "--out", scratch + "/log.ndjson"],
                    ["import", "--data", scratch + "/imported", scratch + "/log.ndjson.zst"],
                    ["export", "--data", scratch + "/imported", "--out", scratch + "/again.ndjson"],
                ] {
                    let step = try await Self.logbook(arguments)
                    #expect(step.status == 0, "logbook \(arguments.joined(separator: " ")): \(step.errors)")
                }
                let compressed = try Data(contentsOf: URL(fileURLWithPath: scratch + "/log.ndjson.zst"))
                let plain = try Data(contentsOf: URL(fileURLWithPath: scratch + "/log.ndjson"))
                #expect(compressed.prefix(4) == Data([0x28, 0xB5, 0x2F, 0xFD]))
                #expect(compressed.count < plain.count / 3)
                #expect(try Data(contentsOf: URL(fileURLWithPath: scratch + "/again.ndjson")) == plain)
                // A damaged export is refused, saying so.
                try compressed.prefix(compressed.count / 2).write(to: URL(fileURLWithPath: scratch + "/cut.zst"))
                let cut = try await Self.logbook(["import", "--data", scratch + "/cut", scratch + "/cut.zst"])
                #expect(cut.status != 0)
                #expect(cut.errors.contains("truncated"))
                // …and leaves nothing behind: an import is moved into place only once complete.
                #expect(!FileManager.default.fileExists(atPath: scratch + "/cut"))
                #expect(!FileManager.default.fileExists(atPath: scratch + "/cut.importing"))
            }
        }
    }

    /// What a user, a model or a tool wrote is printed as text, never as terminal commands: a thread title that
    /// would clear the screen and retitle the window shows as escapes in `threads`, `tail` and `events`.
    @Test func humanReadableOutputEscapesControlCharacters() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.binary),
            "build the logbook product first (swift build --build-tests builds it)")
        try await ServerTests.withServer(configure: { $0.rateLimit = nil }) { app, _ in
            try await app.application.test(.live) { client in
                let port = try #require(client.port)
                let admin = ServerTests.token(subject: "user:root", roles: ["admin"])
                let title = String(
                    data: try JSONEncoder().encode("\u{1B}[2J\u{1B}]0;pwned\u{07}evil \u{202E}txt.exe"), encoding: .utf8
                )!
                try await client.execute(
                    uri: "/v1/threads", method: .post,
                    headers: [.authorization: "Bearer \(admin)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"threadID": "t-evil", "title": \#(title)}"#)
                ) { #expect($0.status == .created) }
                let outputs = [
                    try await Self.logbook(["threads"], port: port, token: admin),
                    try await Self.logbook(["tail", "-n", "5", "--data", app.store.directory]),
                    try await Self.logbook(["events", "--data", app.store.directory]),
                ]
                for (status, output, errors) in outputs {
                    #expect(status == 0, "\(errors)")
                    #expect(
                        output.contains("evil"),
                        "\(output)")
                    #expect(
                        (output.contains("\\x1b[2J") || output.contains("\\u001b[2J")),
                        "\(output)")
                    #expect(
                        !output.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x202E },
                        "\(output.debugDescription)")
                }
            }
        }
    }

    /// Replay and `rebuild --check` read the log without writing to it, so they work while a server holds it; replay
    /// takes the server's policy setting when given none, and says what to give when there is none.
    @Test func replayAndRebuildCheckWorkBesideARunningServer() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.binary),
            "build the logbook product first (swift build --build-tests builds it)")
        try await ServerTests.withServer(
            answering: { _ in .json(body: ServerTests.completion) }, configure: { $0.rateLimit = nil }
        ) { app, _ in
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/threads/r1/messages", method: .post,
                    headers: [.authorization: "Bearer \(ServerTests.token())", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"text": "hi"}"#)
                ) { #expect($0.status == .ok) }
            }
            let data = app.store.directory
            let policy = FileManager.default.temporaryDirectory.appendingPathComponent(
                "logbook-policy-\(UUID().uuidString).json"
            ).path
            try #"{"roles": {"operator": ["chat", "model.use:*", "thread.read:own"]}}"#.write(
                toFile: policy, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: policy) }
            let before = app.store.lastSeq
            let replay = try await Self.logbook(["replay", "r1", "--data", data, "--policy", policy])
            #expect(replay.status == 0, "\(replay.output) \(replay.errors)")
            #expect(replay.output.contains("reproduced exactly"), "\(replay.output) \(replay.errors)")
            let fromSetting = try await LiveProcess.run([
                "/usr/bin/env", "LOGBOOK_POLICY=\(policy)", Self.binary, "replay", "r1", "--data", data,
            ])
            #expect(fromSetting.status == 0, "\(fromSetting.errors)")
            let none = try await LiveProcess.run([
                "/usr/bin/env", "-u", "LOGBOOK_POLICY", "-u", "LOGBOOK_CONFIG", Self.binary, "replay", "r1", "--data",
                data,
            ])
            #expect(
                none.status != 0,
                "\(none.errors)")
            #expect(
                none.errors.contains("give --policy FILE"),
                "\(none.errors)")
            #expect(
                !none.errors.contains("USAGE"),
                "\(none.errors)")
            // The server writes its read model tables at each checkpoint: one now, as at shutdown.
            try await app.readModels.checkpoint()
            let check = try await Self.logbook(["rebuild", "--check", "--data", data])
            #expect(
                check.status == 0,
                "\(check.output) \(check.errors)")
            #expect(
                check.output.contains("conversations: the tables agree"),
                "\(check.output) \(check.errors)")
            #expect(
                check.output.contains("audit: the tables agree"),
                "\(check.output) \(check.errors)")
            #expect(app.store.lastSeq == before, "nothing was appended")
            let events = try await Self.logbook(["events", "--data", data, "--json", "--limit", "3"])
            #expect(
                events.output.split(separator: "\n").allSatisfy {
                    $0.contains("\"data\":") && !$0.contains("\"payload\"")
                }, "\(events.output)")
        }
    }

    /// `logbook policy`: show, set a role, remove it, and the history, through a live server.
    @Test func thePolicyCommandsChangeAndShowThePolicyInTheLog() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.binary),
            "build the logbook product first (swift build --build-tests builds it)")
        try await ServerTests.withServer(configure: { $0.rateLimit = nil }) { app, _ in
            try await app.application.test(.live) { client in
                let port = try #require(client.port)
                let run = Self.succeeding(port: port)
                #expect(try await run(["policy", "show"]).contains("configured policy"))
                #expect(
                    try await run(["policy", "set-role", "sre", "chat", "tool.call:time/*", "--reason", "on call"])
                        .contains("role sre"))
                let shown = try await run(["policy", "show"])
                #expect(
                    shown.contains("sre"),
                    "\(shown)")
                #expect(
                    shown.contains("tool.call:time/*"),
                    "\(shown)")
                #expect(
                    shown.contains("version: "),
                    "\(shown)")
                #expect(try await run(["policy", "remove-role", "sre"]).contains("removed"))
                let history = try await run(["policy", "history"])
                #expect(history.contains("role.set"), "\(history)")
                #expect(history.contains("role.removed"), "\(history)")
                #expect(history.contains("on call"), "\(history)")
                #expect(history.contains("user:root"), "\(history)")
                let refused = try await Self.logbook(
                    ["policy", "set-role", "x", "chat"], port: port, token: ServerTests.token())
                #expect(refused.status != 0, "\(refused.errors)")
                #expect(refused.errors.contains("403"), "\(refused.errors)")
            }
        }
    }

    /// `chat --data`: the engine in the CLI's own process, on a log no server holds; refused, saying why, when one does.
    @Test func chatRunsOnALogInProcessWhenNoServerHasIt() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the logbook product first")
        let llm = try await ScriptedLLMServer(fallback: { request in
            request.json["stream"] as? Bool == true
                ? .sse(events: [
                    Wire.chunk(content: "All "), Wire.chunk(content: "quiet."), Wire.chunk(finish: "stop"),
                    Wire.usageChunk(7, 2), "[DONE]",
                ])
                : .json(body: Wire.completion(text: "All quiet.", finish: "stop", usage: (7, 2)))
        })
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-cli-chat-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let environment = ["LOGBOOK_LLM_BASE_URL": llm.baseURL, "LOGBOOK_LLM_MODEL": "lab-model", "USER": "carol"]
        let chat = try await LiveProcess.run(
            [Self.binary, "chat", "--data", dir, "--thread", "local-1", "--message", "Anything odd?"],
            environment: environment)
        #expect(chat.status == 0, "\(chat.errors)")
        #expect(chat.output == "All quiet.\n", "\(chat.errors)")
        #expect(chat.errors.contains("completed"))
        #expect(chat.errors.contains("7+2 tokens"))
        let events = try await LiveProcess.run([
            Self.binary, "events", "--data", dir, "--stream", "thread/local-1", "--json",
        ])
        #expect(events.output.contains("Anything odd?"))
        #expect(events.output.contains("user:carol"))
        #expect(events.output.contains("run.finished"))

        let rebuild = try await LiveProcess.run([Self.binary, "rebuild", "--data", dir])
        let total = try await LiveProcess.run([Self.binary, "stats", "--data", dir, "--json"])
        let count =
            (try JSONSerialization.jsonObject(with: Data(total.output.utf8)) as? [String: Any])?["events"] as? Int ?? -1
        #expect(
            rebuild.status == 0,
            "\(rebuild.output) \(rebuild.errors)")
        #expect(
            rebuild.output.contains("\(count) events folded"),
            "\(rebuild.output) \(rebuild.errors)")

        let holder = try EventStore.open(EventStore.Configuration(directory: dir))
        let refused = try await LiveProcess.run(
            [Self.binary, "chat", "--data", dir, "--message", "again"], environment: environment)
        #expect(refused.status != 0, "\(refused.errors)")
        #expect(refused.errors.contains("open for writing by another process"), "\(refused.errors)")
        await holder.close()
        await llm.shutdown()
    }

    /// `logbook demo`: two conversations through the scripted model and the real `mcp-server-time` (installed by
    /// `./scripts/setup.sh`), the log, the audit trail, replays with no divergence, an intact log.
    @Test func theDemoRunsTheWholePipeline() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the logbook product first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-demo-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let demo = try await LiveProcess.run([Self.binary, "demo", "--data", dir])
        #expect(demo.status == 0, "\(demo.errors)")
        #expect(
            demo.output.contains("→ time/get_current_time"),
            "\(demo.output.prefix(3000))")
        #expect(
            demo.output.contains("(from the time server)"),
            "\(demo.output.prefix(3000))")
        #expect(demo.output.contains("denied: tool.call on tool:time/get_current_time: user:bob"))
        #expect(demo.output.components(separatedBy: "no divergence").count == 3)
        #expect(demo.output.contains("intact: "))
        let again = try await LiveProcess.run([Self.binary, "demo", "--data", dir])
        #expect(again.status != 0)
        #expect(again.errors.contains("already holds a log"))
    }

    @Test func withoutAServerTheRemoteCommandsSayWhatToDo() async throws {
        let (status, _, errors) = try await Self.logbook(["models", "list"], port: 1, token: "x")
        #expect(status != 0)
        #expect(errors.contains("cannot reach http://127.0.0.1:1"))
        #expect(errors.contains("logbook serve"))
    }
}
