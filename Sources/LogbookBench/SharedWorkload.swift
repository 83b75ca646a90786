import CommandSupport
import Engine
import EventStore
import Events
import Foundation
import LoopbackModel
import NIOCore
import OpenAIWire

/// The shared conversation workload of `../shared/bench/workload` (format `agent-workload/v1`): turns of threads, each
/// a user message, maybe one tool call with its result, and the assistant's answer.
struct SharedWorkload: Sendable {
    struct Turn: Decodable, Sendable {
        struct ToolCall: Decodable, Sendable {
            let id: String
            let name: String
            let args: JSONValue
            let result: String
        }
        let thread: String
        let turn: Int
        let user: String
        let assistant: String
        let tool_call: ToolCall?
    }

    struct File: Decodable {
        struct Stats: Decodable { let content_bytes: Int; let messages: Int; let tool_turns: Int; let turns: Int }
        let format: String
        let stats: Stats
        let turns: [Turn]
    }

    let turns: [Turn]
    let contentBytes: Int
    let messageCount: Int
    let toolTurns: Int
    let sha256: String
    let source: String
    /// The model's answer (completion JSON) for a request whose last message has this text: the tool call after the
    /// user message of a tool turn, else the answer.
    let replies: [String: String]

    /// Turns grouped by round (turn k of every thread), in file order.
    var rounds: [[Turn]] {
        Dictionary(grouping: turns, by: \.turn).sorted { $0.key < $1.key }.map(\.value)
    }

    /// Reads the workload from a JSON file, or runs its generator (`.py`) with the reference parameters.
    static func load(_ path: String) throws -> SharedWorkload {
        var jsonPath = path
        if path.hasSuffix(".py") {
            guard FileManager.default.fileExists(atPath: path) else {
                throw Failure(
                    "no workload generator at \(path): run from the checkout with ../shared beside it, pass --workload FILE, or --skip-workload"
                )
            }
            jsonPath =
                FileManager.default.temporaryDirectory.appendingPathComponent(
                    "logbook-workload-\(UUID().uuidString).json"
                ).path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", path, "-T", "200", "-K", "20", "--seed", "42", "-o", jsonPath]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw Failure("the workload generator \(path) failed (status \(process.terminationStatus))")
            }
        }
        defer { if jsonPath != path { try? FileManager.default.removeItem(atPath: jsonPath) } }
        let data = try Data(contentsOf: URL(fileURLWithPath: jsonPath))
        let file = try JSONDecoder().decode(File.self, from: data)
        guard file.format == "agent-workload/v1" else {
            throw Failure("\(path): format \(file.format), expected agent-workload/v1")
        }
        var replies: [String: String] = [:]
        for t in file.turns {
            let answer = ScriptedLLMServer.completion(
                .init(role: "assistant", content: t.assistant), finish: "stop", model: "workload")
            if let call = t.tool_call {
                let toolCall = ChatCompletions.ToolCall(
                    id: call.id, function: .init(name: call.name, arguments: call.args.jsonText))
                replies[t.user] = ScriptedLLMServer.completion(
                    .init(role: "assistant", tool_calls: [toolCall]), finish: "tool_calls", model: "workload")
                replies[call.result] = answer
            } else {
                replies[t.user] = answer
            }
        }
        return SharedWorkload(
            turns: file.turns, contentBytes: file.stats.content_bytes, messageCount: file.stats.messages,
            toolTurns: file.stats.tool_turns,
            sha256: sha256(data), source: path, replies: replies)
    }

    /// The scripted model: the reply for the request's last message, else the benchmark's usual answer.
    static func reply(to request: ScriptedLLMServer.Request, in replies: [String: String]) -> String {
        guard let text = request.chatCompletion?.messages.last?.text, let reply = replies[text] else {
            return BenchModel.answer
        }
        return reply
    }

    static let tools = [
        ChatCompletions.Tool(
            function: .init(
                name: "http_get", description: "Fetch a URL.",
                parameters: ["type": "object", "properties": ["url": ["type": "string"]], "required": ["url"]]))
    ]

    /// One turn as an OpenAI client with its own tool plays it: the user message; for a tool turn, the model's tool
    /// call, the tool's result sent back; the answer. Returns the thread's messages after the turn.
    static func play(
        _ turn: Turn, after history: [ChatCompletions.Message], api: BenchClient, threadPrefix: String = ""
    ) async throws -> [ChatCompletions.Message] {
        var messages = history + [ChatCompletions.Message(role: "user", content: turn.user)]
        func complete() async throws -> ChatCompletions.Message {
            let body = String(
                decoding: try JSONEncoder().encode(
                    ChatCompletions.Request(model: "bench-model", messages: messages, tools: tools)), as: UTF8.self)
            let answer = try await api.send(
                "POST", "/v1/chat/completions", body, headers: [("X-Logbook-Thread", threadPrefix + turn.thread)])
            guard
                let message = try JSONDecoder().decode(
                    ChatCompletions.Completion.self, from: Data(answer.readableBytesView)
                )
                .choices.first?.message
            else {
                throw Failure("turn \(turn.turn) of \(turn.thread): no message in the answer")
            }
            return message
        }
        var message = try await complete()
        if let call = turn.tool_call {
            guard let calls = message.tool_calls, !calls.isEmpty else {
                throw Failure("turn \(turn.turn) of \(turn.thread): the model did not call the tool")
            }
            messages.append(ChatCompletions.Message(role: "assistant", tool_calls: calls))
            messages.append(ChatCompletions.Message(role: "tool", content: call.result, tool_call_id: call.id))
            message = try await complete()
        }
        guard message.text == turn.assistant else {
            throw Failure("turn \(turn.turn) of \(turn.thread): unexpected answer")
        }
        messages.append(ChatCompletions.Message(role: "assistant", content: turn.assistant))
        return messages
    }

    /// Messages the log holds after `seq`: user messages, answers, tool calls (run here, or by the client and so held
    /// by the model response that made them) and tool results.
    static func countMessages(in store: EventStore, after seq: UInt64) throws -> Int {
        var count = 0, next = seq + 1
        while true {
            let page = try store.read(from: Seq(next), maxCount: 4096)
            guard let last = page.last else { return count }
            for event in page {
                guard case .event(let domain) = EventCatalog.decode(event) else { continue }
                switch domain {
                case .userMessage, .assistantMessage, .toolCalled, .toolResult: count += 1
                // A tool call the client runs itself is stored in the model's response that made it.
                case .llmResponse(let r) where !r.toolCalls.isEmpty: count += 1
                default: break
                }
            }
            next = last.seq.rawValue + 1
        }
    }

    /// SHA-256 (OpenSSL) as hex, to compare with the figure the workload's README gives.
    private static func sha256(_ data: Data) -> String {
        let digest = data.withUnsafeBytes { SHA256Hasher().hash($0) }
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}
