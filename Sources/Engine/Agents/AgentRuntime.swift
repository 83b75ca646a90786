import EventStore
import Events
import Foundation
import Logging
import Projections
import Synchronization

/// One user message to a thread.
public struct ChatTurn: Sendable {
    public var threadID: ThreadID
    public var text: String
    /// The registered agent to answer (nil: `default` if registered, else the built-in assistant).
    public var agent: String?
    /// The title of a new thread.
    public var title: String?
    /// A registered model to answer with instead of the agent's or the workspace's (the caller needs `model.use` on
    /// it, as on any model); nil: the usual resolution.
    public var model: String?

    public init(threadID: ThreadID, text: String, agent: String? = nil, title: String? = nil, model: String? = nil) {
        (self.threadID, self.text, self.agent, self.title, self.model) = (threadID, text, agent, title, model)
    }
}

/// How a run ended.
public struct RunResult: Sendable, Equatable {
    public var runID: UUID
    public var status: RunStatus
    /// The final answer (nil unless completed).
    public var answer: String?
    public var steps: Int
    public var usage: TokenUsage
}

/// The engine: what its services share (the log, the registry's read model, the policy in force, the tool pool, the
/// configuration, per-thread locks and the history cache), and the services themselves, one job each:
/// `conversations` (chat, the OpenAI-compatible completion, threads, closing runs a crash cut short), `debugger`
/// (replay, fork, diff, counterfactuals), `registry` (models, MCP servers, agents), `access` (the policy and the
/// authorization of reads).
///
/// A run resolves the model, calls it, calls the tools it asks for, and records every step — the user's message, each
/// authorization decision (before the action it gates), each model request (by the seqs of its prompt) and response or
/// failure, each tool call and result — in the thread's stream. A denied tool call is never made: the model gets a
/// permission-denied result instead. Runs on one thread are serialized.
public final class AgentRuntime: Sendable {
    public struct Configuration: Sendable {
        public var maxSteps = 8
        /// Tool calls one run may make; calls past it are answered "not run" and the run ends as limitReached.
        public var maxToolCalls = 32
        /// Wall-clock time one run may take; no step starts after it (the run ends as limitReached).
        public var runBudget: Duration = .seconds(600)
        public var retry = RetryPolicy()
        /// How long a model call may take, unless the model's `parameters` say otherwise (`timeout`,
        /// `first_byte_timeout`, `idle_timeout`, in seconds).
        public var modelDeadlines = ModelDeadlines()
        /// The most tokens an answer may have when neither the call nor the model's `max_tokens` says: a local model
        /// otherwise writes until its context is full (nil: the model server's own default).
        public var defaultMaxOutputTokens: Int? = 4096
        public var toolTimeout: Duration = .seconds(60)
        public var maxToolResultBytes = 256 << 10
        /// Stream the model's answers (text reaches the observer as it is generated).
        public var streaming = true
        public var defaultInstructions =
            "You are Logbook, an operations assistant. Answer concisely. Use the tools you are given when they help; say so when a tool fails or is not allowed."
        public var environment: [String: String] = ProcessInfo.processInfo.environment
        /// The secrets registry entries may name (checked on registration and on every use).
        public var secrets = SecretScope()
        /// A thread idle this long needs a fresh token (nil: sessions never expire).
        public var sessionIdleTimeout: Duration? = .seconds(30 * 60)
        /// Decoded events of recently active threads kept in memory, so a turn reads only what its thread gained since
        /// its last turn (0: read every thread whole each turn).
        public var historyCacheEvents = 100_000
        /// Now, in nanoseconds since the epoch (injected by tests).
        public var clock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1e9) }
        /// The monotonic clock runs measure their budget and latencies with (injected by tests).
        public var now: @Sendable () -> ContinuousClock.Instant = { .now }
        /// Where runs' outcomes and failed model calls are logged (nil: nowhere). Never a prompt, an answer or a key.
        public var logger: Logger? = nil
        /// Where run ids and tool-call ids come from (injected by tests; time-ordered event ids by default).
        public var makeID: @Sendable () -> UUID = { EventID.make() }
        public init() {}
    }

    public typealias ProviderFactory = @Sendable (ModelDefinition, Configuration) throws(LLMError) -> any LLMProvider

    let store: EventStore
    private let registryRunner: ProjectionRunner
    /// The policy that decides while the log holds none (`serve`'s file, or the development default).
    let configuredPolicy: Policy
    /// The policy in force as last read from the log, and the `policy` stream's revision it was read at.
    let policyCache = Mutex<(revision: StreamRevision?, policy: Policy, version: Seq?)?>(nil)
    let pool: MCPPool
    let configuration: Configuration
    let makeProvider: ProviderFactory
    let locks = ThreadLocks()
    let histories: HistoryCache
    /// The registry as of the registry streams' revisions it was read at.
    private let registryCache = Mutex<(revisions: [StreamRevision?], state: RegistryState)?>(nil)

    /// - Parameter registry: a runner that includes `RegistryProjection`; it is caught up before each run.
    public init(
        store: EventStore, registry: ProjectionRunner, policy: Policy, pool: MCPPool,
        configuration: Configuration = Configuration(),
        makeProvider: @escaping ProviderFactory = AgentRuntime.standardProvider
    ) {
        (self.store, registryRunner, self.configuredPolicy, self.pool, self.configuration, self.makeProvider) = (
            store, registry, policy, pool, configuration, makeProvider
        )
        histories = HistoryCache(maxEvents: configuration.historyCacheEvents)
    }

    /// The provider for a registered model: OpenAI-compatible or Azure OpenAI; its secret reference must be in the
    /// configuration's scope.
    public static let standardProvider: ProviderFactory = { (model, configuration) throws(LLMError) in
        if let reference = model.secretReference {
            do { try configuration.secrets.check(reference) } catch {
                throw LLMError(.configuration, "model '\(model.name)': \(error)", cause: error)
            }
        }
        var model = model
        if model.parameters["max_tokens"] == nil, let tokens = configuration.defaultMaxOutputTokens {
            model.parameters["max_tokens"] = String(tokens)
        }
        return HTTPChatProvider(
            endpoint: try ModelEndpoint(model),
            deadlines: configuration.modelDeadlines.overridden(by: model.parameters),
            environment: configuration.environment)
    }

    /// Chat, the OpenAI-compatible completion, threads, and closing runs a crash cut short.
    public var conversations: Conversations { Conversations(engine: self) }
    /// Replay, fork, diff and counterfactual runs of recorded threads.
    public var debugger: Debugger { Debugger(engine: self) }
    /// The registry of models, MCP servers and agents: reads as of any seq, and changes.
    public var registry: RegistryService { RegistryService(engine: self) }
    /// The policy in force (and its history), and the authorization of reads.
    public var access: AccessControl { AccessControl(engine: self) }

    /// Runs `body` with the caller's token set for the HTTP MCP servers it calls.
    func forwarding<T: Sendable>(
        _ token: String?, _ body: () async throws(EngineError) -> T
    ) async throws(EngineError) -> T {
        do {
            return try await MCPCallContext.$bearerToken.withValue(
                token, operation: { () async throws -> T in try await body() })
        } catch let error as EngineError {
            throw error
        } catch {
            throw EngineError(.storage, "the run failed: \(error)", cause: error)
        }
    }
}

extension AgentRuntime {

    /// The start of every turn on a thread (the caller holds the thread's lock): reads its history, authorizes `chat`
    /// in the thread's workspace (a new thread's is the caller's) and, on someone else's thread, `thread.read` too (the
    /// model is given the whole conversation, so posting to a thread is reading it), and checks the session. A thread
    /// in another workspace that the caller may not use answers as a missing one would (`notFound`).
    /// - Returns: a recorder over the history, the gate, and the thread's `thread.started` (nil: a new thread).
    func openTurn(
        _ stream: StreamID, threadID: ThreadID, as principal: Principal, observer: (any RunObserver)?
    ) async throws(EngineError)
        -> (RunRecorder, Gate, ThreadStarted?)
    {
        let read = try histories.history(of: stream, in: store)
        let (history, lastActivity) = (read.events, read.lastActivity)
        let started = history.lazy.compactMap { if case .threadStarted(let s) = $0.event { s } else { nil } }.first
        let origin = ThreadOrigin.of(threadID, in: history)
        let workspace = origin?.workspace ?? principal.workspace
        var recorder = RunRecorder(
            store: store, stream: stream, workspace: workspace, observer: observer, history: history,
            knownRevision: read.revision ?? 0)
        let gate = access.gate(for: principal, in: workspace)
        do throws(EngineError) {
            try await gate.require("chat", on: stream.rawValue, recordingIn: &recorder)
            if let origin, origin.owner != principal.subject {
                try await gate.require(
                    "thread.read", on: origin.readScope(for: principal), recorded: stream.rawValue,
                    recordingIn: &recorder)
            }
        } catch  where error.kind == .denied && workspace != principal.workspace {
            throw .noThread(threadID)
        }
        try await checkSession(
            threadID, lastActivity: lastActivity,
            alreadyExpired: history.last.map { if case .sessionExpired = $0.event { true } else { false } } ?? false,
            principal: principal, recorder: &recorder)
        return (recorder, gate, started)
    }

    /// Keeps a turn's thread history for the next turn, when the recorder knows which revision it ends at.
    func remember(_ recorder: RunRecorder) {
        if let revision = recorder.knownRevision, revision > 0 {
            histories.remember(recorder.stream, events: recorder.history, revision: revision)
        } else {
            histories.forget(recorder.stream)
        }
    }

    /// The current registry. Catching the registry runner up scans every event since its position, so it is done only
    /// when a registry stream has moved (three head lookups tell).
    func registryState() async throws(EngineError) -> RegistryState {
        do {
            let revisions = try RegistryProjection.streams.map { (s) throws(EventStoreError) in
                try store.revision(of: s)
            }
            if let cached = registryCache.withLock({ $0 }), cached.revisions == revisions { return cached.state }
            try await registryRunner.catchUp()
            let state = registryRunner.read(RegistryProjection.self) { $0 }
            registryCache.withLock { $0 = (revisions, state) }
            return state
        } catch {
            throw EngineError(.storage, "reading the registry failed: \(error)")
        }
    }

    /// A thread idle for longer than `sessionIdleTimeout` needs a token issued after its session expired: an older
    /// one is refused (`sessionExpired`) and the expiry recorded (`session.expired`, once per expiry).
    private func checkSession(
        _ threadID: ThreadID, lastActivity: Int64?, alreadyExpired: Bool, principal: Principal,
        recorder: inout RunRecorder
    ) async throws(EngineError) {
        guard let lastActivity, let timeout = configuration.sessionIdleTimeout else { return }
        let now = configuration.clock()
        let idle = now - lastActivity
        let limit = Int64(timeout.components.seconds) * 1_000_000_000
        guard idle > limit else { return }
        let expiredAt = lastActivity + limit
        if let issued = principal.issuedAt, issued * 1_000_000_000 > expiredAt { return }  // a fresh token
        if !alreadyExpired {
            try await recorder.record(
                [.sessionExpired(SessionExpired(threadID: threadID.rawValue, idleSeconds: Int(idle / 1_000_000_000)))],
                actor: principal.subject)
        }
        throw EngineError(
            .sessionExpired,
            "the session on thread \(threadID) expired after \(timeout) idle; sign in again for a fresh token")
    }
}
