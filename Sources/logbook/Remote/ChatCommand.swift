import ArgumentParser
import Foundation

/// `logbook chat`: a terminal chat with a thread's agent on a running server. The answer streams as the model writes
/// it; tool calls, their results and denials show as they are recorded.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat", abstract: "Chat with an agent on a running server (streamed; tool calls and denials shown).",
        discussion: "Reads messages line by line until end of input or '/quit'. With --message, sends one and exits (for scripts).")

    @OptionGroup var remote: ServerOptions
    @Option(help: "The thread (default: a new one).") var thread: String?
    @Option(help: "The agent (default: the workspace's).") var agent: String?
    @Option(help: "Send this one message and exit.") var message: String?

    func run() async throws {
        let client = try remote.client()
        let threadID = thread ?? "chat-\(UUID().uuidString.prefix(8).lowercased())"
        let interactive = message == nil && isatty(STDIN_FILENO) == 1
        if interactive { print("thread \(threadID) on \(client.base); '/quit' or Ctrl-D to leave") }
        if let message { return try await turn(message, client: client, threadID: threadID) }
        while true {
            if interactive { FileHandle.standardOutput.write(Data("> ".utf8)) }
            guard let line = readLine() else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text == "/quit" { break }
            if text.isEmpty { continue }
            do { try await turn(text, client: client, threadID: threadID) } catch let failure as Failure {
                // One failed turn (a denial, a model error) does not end the conversation.
                FileHandle.standardError.write(Data("error: \(failure)\n".utf8))
            }
        }
    }

    private func turn(_ text: String, client: APIClient, threadID: String) async throws {
        var body: [String: Any] = ["text": text, "stream": true]
        body["agent"] = agent
        var wroteText = false
        try await client.stream(.POST, "/v1/threads/\(APIClient.escape(threadID))/messages", json: body) { event, data in
            let json = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:]
            switch event {
            case "text":
                FileHandle.standardOutput.write(Data((json["text"] as? String ?? "").utf8))
                wroteText = true
            case "tool.called":
                note("→ \(json["server"] as? String ?? "?")/\(json["tool"] as? String ?? "?") \(json["arguments"] as? String ?? "")", &wroteText)
            case "tool.result":
                let output = (json["output"] as? String ?? "").replacingOccurrences(of: "\n", with: " ")
                note("\((json["isError"] as? Bool ?? false) ? "✗" : "←") \(output.prefix(160))", &wroteText)
            case "authz.decided" where json["decision"] as? String == "deny":
                note("denied: \(json["action"] as? String ?? "") on \(json["resource"] as? String ?? ""): \(json["reason"] as? String ?? "")", &wroteText)
            case "done":
                if !wroteText, let answer = json["answer"] as? String { print(answer) } else if wroteText { print() }
                wroteText = false
                let usage = "\(json["steps"] as? Int ?? 0) steps, \(json["inputTokens"] as? Int ?? 0)+\(json["outputTokens"] as? Int ?? 0) tokens"
                FileHandle.standardError.write(Data("(\(json["status"] as? String ?? "?"), \(usage))\n".utf8))
            case "error":
                let error = json["error"] as? [String: Any]
                throw Failure("\(error?["code"] as? String ?? "error"): \(error?["message"] as? String ?? data)")
            default:
                break
            }
        }
    }

    /// A line about the run, on standard error (the answer alone goes to standard output).
    private func note(_ text: String, _ wroteText: inout Bool) {
        if wroteText { print(); wroteText = false }
        FileHandle.standardError.write(Data("  \(text)\n".utf8))
    }
}
