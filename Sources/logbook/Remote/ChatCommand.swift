import ArgumentParser
import CommandSupport
import Engine
import EventStore
import Events
import Foundation
import Projections
import Server
import Synchronization

/// `logbook chat`: a terminal chat with a thread's agent, through a running server or on a log in this process. The
/// answer streams as the model writes it; tool calls, their results and denials show as they are recorded.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with an agent, through a running server or on a log in this process (streamed).",
        discussion: """
            Reads messages line by line until end of input or '/quit'. With --message, sends one and exits (for \
            scripts). With --data DIR the engine runs here on that log (no server may have it open), as $USER with \
            every permission, the model from the log's registry or $LOGBOOK_LLM_BASE_URL / $LOGBOOK_LLM_MODEL.
            """)

    @OptionGroup var remote: ServerOptions
    @Option(help: ArgumentHelp("Chat on the log in DIR in this process instead of through a server.", valueName: "DIR"))
    var data: String?
    @Option(help: "The thread (default: a new one).") var thread: String?
    @Option(help: "The agent (default: the workspace's).") var agent: String?
    @Option(help: "A registered model for these turns instead of the agent's (needs model.use on it).") var model:
        String?
    @Option(help: "Send this one message and exit.") var message: String?

    func validate() throws {
        if data != nil, remote.server != nil || remote.token != nil {
            throw ValidationError("--data chats in this process; drop --server and --token")
        }
    }

    func run() async throws {
        let threadID = thread ?? "chat-\(UUID().uuidString.prefix(8).lowercased())"
        let backend: any ChatBackend
        if let data {
            backend = try await EmbeddedChat(directory: data)
        } else {
            backend = RemoteChat(client: try remote.client())
        }
        do { try await converse(backend, threadID: threadID) } catch {
            await backend.close()
            throw error
        }
        await backend.close()
    }

    private func converse(_ backend: any ChatBackend, threadID: String) async throws {
        if let message { return try await backend.turn(message, thread: threadID, agent: agent, model: model) }
        let interactive = isatty(STDIN_FILENO) == 1
        if interactive { print("thread \(threadID) on \(backend.place); '/quit' or Ctrl-D to leave") }
        while true {
            if interactive { FileHandle.standardOutput.write(Data("> ".utf8)) }
            guard let line = readLine() else { return }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text == "/quit" { return }
            if text.isEmpty { continue }
            do { try await backend.turn(text, thread: threadID, agent: agent, model: model) } catch let failure
                as Failure
            {
                // One failed turn (a denial, a model error) does not end the conversation.
                FileHandle.standardError.write(Data("error: \(String(describing: failure).terminalSafe)\n".utf8))
            }
        }
    }
}

/// Where a chat's turns run.
protocol ChatBackend: Sendable {
    var place: String { get }
    func turn(_ text: String, thread: String, agent: String?, model: String?) async throws
    func close() async
}

/// What the terminal shows of a turn: the answer on standard output as it streams; tool calls, results, denials and
/// the run's summary on standard error.
final class ChatPrinter: Sendable {
    private let wroteText = Mutex(false)
    /// Where notes and the summary go (standard error; the demo keeps everything on standard output, in order).
    private let notes: FileHandle

    init(notes: FileHandle = .standardError) { self.notes = notes }

    func text(_ piece: String) {
        FileHandle.standardOutput.write(Data(piece.terminalSafe.utf8))
        wroteText.withLock { $0 = true }
    }

    /// A recorded event the user should see: a tool call, its result, a denial.
    func show(_ event: DomainEvent) {
        switch event {
        case .toolCalled(let c): note("→ \(c.server)/\(c.tool) \(c.arguments)")
        case .toolResult(let r):
            note("\(r.isError ? "✗" : "←") \(r.output.replacingOccurrences(of: "\n", with: " ").prefix(160))")
        case .authorizationDecided(let d) where d.decision == .deny:
            note("denied: \(d.action) on \(d.resource): \(d.reason)")
        default: break
        }
    }

    func done(status: String, answer: String?, steps: Int, input: Int, output: Int) {
        let streamed = wroteText.withLock { wrote in
            defer { wrote = false }; return wrote
        }
        let tail = streamed ? "\n" : answer.map { $0.terminalSafe + "\n" } ?? ""
        FileHandle.standardOutput.write(Data(tail.utf8))
        notes.write(Data("(\(status), \(steps) steps, \(input)+\(output) tokens)\n".utf8))
    }

    private func note(_ text: String) {
        if wroteText.withLock({ wrote in
            defer { wrote = false }; return wrote
        }) {
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
        notes.write(Data("  \(text.terminalSafeLine)\n".utf8))
    }
}

/// Turns through a server: `POST /v1/threads/{id}/messages` with `stream`, its frames printed as they come.
struct RemoteChat: ChatBackend {
    let client: APIClient
    let printer = ChatPrinter()
    var place: String { client.base }

    func turn(_ text: String, thread: String, agent: String?, model: String?) async throws {
        let body = PostMessageBody(text: text, agent: agent, stream: true, model: model)
        try await client.stream(.POST, "/v1/threads/\(APIClient.escape(thread))/messages", body: body) { event, data in
            switch event {
            case "text": printer.text(try JSONDecoder().decode(TextFrameBody.self, from: data).text)
            case "done":
                let run = try JSONDecoder().decode(RunResultBody.self, from: data)
                printer.done(
                    status: run.status, answer: run.answer, steps: run.steps, input: run.inputTokens,
                    output: run.outputTokens)
            case "error":
                let error = try? JSONDecoder().decode(ErrorBody.self, from: data).error
                throw Failure("\(error?.code ?? "error"): \(error?.message ?? String(decoding: data, as: UTF8.self))")
            default:
                // Every other frame is an event as it was recorded.
                if let recorded = try? EventCatalog.decode(type: event, json: data) { printer.show(recorded) }
            }
        }
    }

    func close() async {}
}

/// Turns run by the engine in this process, on a log it opens for writing.
struct EmbeddedChat: ChatBackend {
    let store: EventStore
    let runtime: AgentRuntime
    let pool: MCPPool
    let principal: Principal
    let printer = ChatPrinter()
    var place: String { "the log in \(store.directory)" }

    init(directory: String) async throws {
        store = try EventStore.open(EventStore.Configuration(directory: directory))
        let registry = ProjectionRunner(store: store, projections: [RegistryProjection.self])
        do { try await registry.start() } catch {
            await store.close()
            throw error
        }
        pool = MCPPool()
        runtime = AgentRuntime(
            store: store, registry: registry, policy: try Policy(roles: ["local": ["*"]]), pool: pool)
        let user = ProcessInfo.processInfo.environment["USER"] ?? "local"
        // Issued now: a session that expired while nobody chatted is renewed by starting the command again.
        principal = Principal(
            subject: "user:\(user)", roles: ["local"], workspace: "default", expiry: .max,
            issuedAt: Int64(Date().timeIntervalSince1970))
    }

    func turn(_ text: String, thread: String, agent: String?, model: String?) async throws {
        let id: ThreadID
        do { id = try ThreadID(thread) } catch { throw Failure(error.message) }
        let result: RunResult
        do {
            result = try await runtime.conversations.chat(
                ChatTurn(threadID: id, text: text, agent: agent, model: model), as: principal,
                observer: Observer(printer: printer))
        } catch {
            throw Failure(error.message)
        }
        printer.done(
            status: result.status.rawValue, answer: result.answer, steps: result.steps, input: result.usage.input,
            output: result.usage.output)
    }

    func close() async {
        await pool.shutdown()
        await store.close()
    }

    struct Observer: RunObserver {
        let printer: ChatPrinter
        func text(_ piece: String) async { printer.text(piece) }
        func appended(_ event: DomainEvent, seq: Seq) async { printer.show(event) }
    }
}
