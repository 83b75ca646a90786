import AsyncHTTPClient
@testable import Engine
import EventStore
import Events
import Foundation
import LogbookTestSupport
import NIOCore
import NIOHTTP1
@testable import Server
import Synchronization
import Testing
import HTTPTypes
import Hummingbird
import HummingbirdTesting

/// A server killed (SIGKILL) in the middle of runs — one waiting on a tool, one on the model — leaves them open in the
/// log; the next start closes them before serving: every `run.started` has its end and every `tool.called` its result,
/// and a second start adds nothing.
@Suite(.serialized) struct CrashRecoveryTests {
    static let secret = "crash-recovery-test-secret-0123456789abcdef"

    static func freePort() async throws -> Int {
        let (_, output, _) = try await LiveProcess.run([
            "python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])",
        ])
        return try #require(Int(output.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    static func decoded(_ store: EventStore) throws -> [(stream: String, event: DomainEvent, actor: String?)] {
        try store.read(from: 1, maxCount: 100_000).compactMap { r in
            if case .event(let e) = EventCatalog.decode(r) { (r.stream.rawValue, e, r.metadata.actor) } else { nil }
        }
    }

    @Test func runsAKillCutShortAreClosedOnTheNextStart() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: CLITests.binary),
            "build the logbook product first (swift build --build-tests builds it)")
        // The model answers by what it is asked, not in turn: under load c2's request can reach it before c1's (c1's
        // turn first starts the MCP server), and c1 would then wait on the model instead of on the tool.
        let llm = try await ScriptedLLMServer(fallback: { request in
            request.body.contains("poke it")
                ? .json(body: Wire.completion(toolCall: ("call_h", "hang__poke", "{}"), finish: "tool_calls")) : .hang
        })
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-crash-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try await Self.freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: CLITests.binary)
        server.arguments = [
            "serve", "--data", dir, "--port", String(port), "--rate-limit", "0", "--health-check-interval", "0",
        ]
        server.environment = ProcessInfo.processInfo.environment.merging([
            "LOGBOOK_JWT_SECRET": Self.secret, "LOGBOOK_LLM_BASE_URL": llm.baseURL, "LOGBOOK_LLM_MODEL": "local",
        ]) { _, new in new }
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        let token = DevelopmentToken.mint(
            secret: Array(Self.secret.utf8), subject: "user:root", roles: ["admin"], workspace: "ops",
            issuer: "logbook", audience: "logbook", lifetime: .seconds(600))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        func send(
            _ method: HTTPMethod, _ path: String, _ body: String?, timeout: Duration = .seconds(30)
        ) async throws -> Int {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json");
                request.body = .bytes(ByteBuffer(string: body))
            }
            return Int(
                try await http.execute(request, timeout: .seconds(Int64(timeout.components.seconds))).status.code)
        }
        do {
            for _ in 0..<300 {
                if (try? await send(.GET, "/healthz", nil, timeout: .seconds(1))) == 200 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let hang =
                #"{"transport": "stdio", "command": ["python3", "\#(DependabilityTests.recordingServer)", "hang"]}"#
            #expect(try await send(.PUT, "/v1/registry/mcp/hang", hang) == 201)
            // Two runs that will not finish: one waits on a tool that never answers, one on a model that never does.
            let c1 = Task {
                try? await send(.POST, "/v1/threads/c1/messages", #"{"text": "poke it"}"#, timeout: .seconds(120))
            }
            try await Task.sleep(for: .milliseconds(200))
            let c2 = Task {
                try? await send(.POST, "/v1/threads/c2/messages", #"{"text": "think"}"#, timeout: .seconds(120))
            }
            var inFlight = false
            // Up to 2 minutes: on a loaded machine (the whole suite at once) 30 s was not always enough.
            for _ in 0..<2400 where !inFlight {
                try await Task.sleep(for: .milliseconds(50))
                var configuration = EventStore.Configuration(directory: dir)
                configuration.readOnly = true
                guard let store = try? EventStore.open(configuration) else { continue }
                let events = (try? Self.decoded(store)) ?? []
                await store.close()
                let called = events.contains {
                    if case .toolCalled = $0.event { $0.stream == "thread/c1" } else { false }
                }
                let asked = events.contains {
                    if case .llmRequest = $0.event { $0.stream == "thread/c2" } else { false }
                }
                inFlight = called && asked
            }
            #expect(inFlight, "both runs got under way")
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
            c1.cancel(); c2.cancel()
        } catch {
            kill(server.processIdentifier, SIGKILL)
            try? await http.shutdown(); await llm.shutdown()
            throw error
        }
        try await http.shutdown()

        // The next start, in process, on the same log.
        var configuration = ServerConfiguration(
            verifier: TokenVerifier(keys: [try .hmac(Array(Self.secret.utf8))], issuer: "logbook", audience: "logbook"),
            policy: try Policy(roles: ["admin": ["*"]]))
        configuration.dataDirectory = dir
        configuration.healthCheckInterval = nil
        configuration.logLevel = .warning
        configuration.engine.environment = ["LOGBOOK_LLM_BASE_URL": llm.baseURL, "LOGBOOK_LLM_MODEL": "local"]
        var app = try await buildApplication(configuration: configuration)
        let events = try Self.decoded(app.store)
        let started = events.compactMap { if case .runStarted(let r) = $0.event { r.runID } else { nil } }
        let finished = events.compactMap { if case .runFinished(let r) = $0.event { (r.runID, r.status) } else { nil } }
        let called = events.compactMap { if case .toolCalled(let c) = $0.event { c.callID } else { nil } }
        let results = events.compactMap {
            if case .toolResult(let r) = $0.event { (r.callID, r.output, r.isError) } else { nil }
        }
        #expect(started.count >= 2, "every run has its end")
        #expect(Set(started) == Set(finished.map(\.0)), "every run has its end")
        #expect(finished.filter { $0.1 == .interrupted }.count == 2, "\(finished)")
        #expect(
            Set(called) == Set(results.map(\.0))
                && results.contains { $0.0 == "call_h" && $0.2 && $0.1.hasPrefix("outcome unknown") }, "\(results)")
        #expect(events.filter { $0.actor == "system:recovery" }.count == 3)
        let count = app.store.lastSeq
        await app.close()
        app = try await buildApplication(configuration: configuration)
        #expect(app.store.lastSeq == count, "a second start closes nothing more")
        await app.close()
        await llm.shutdown()
    }

    /// A full disk answers 507 `disk_full` and the server stays ready (writes resume once space is free); an I/O
    /// error makes every write 503 and `/readyz` not ready, saying why.
    @Test func storageFaultsAreToldApartAndReadinessTellsTheTruth() async throws {
        let faults = StorageFaults()
        try await ServerTests.withServer(
            answering: { _ in .json(body: ServerTests.completion) },
            configure: {
                $0.storeCommitFault = { faults.next() }
                $0.rateLimit = nil
            }
        ) { app, _ in
            try await app.application.test(.router) { client in
                let alice: HTTPFields = [
                    .authorization: "Bearer \(ServerTests.token())", .contentType: "application/json",
                ]
                func chat() async throws -> (HTTPResponse.Status, String?) {
                    try await client.execute(
                        uri: "/v1/threads/f1/messages", method: .post, headers: alice,
                        body: ByteBuffer(string: #"{"text": "hi"}"#)
                    ) {
                        ($0.status, ServerTests.errorCode($0.body))
                    }
                }
                func ready() async throws -> (HTTPResponse.Status, String) {
                    try await client.execute(uri: "/readyz", method: .get) { ($0.status, String(buffer: $0.body)) }
                }
                faults.add(ENOSPC)
                let full = try await chat()
                #expect(full.0.code == 507, "\(full)")
                #expect(full.1 == "disk_full", "\(full)")
                #expect(try await ready().0 == .ok, "a full disk is not a fault of the server")
                #expect(try await chat().0 == .ok, "writes resume once space is free")
                faults.add(EIO)
                _ = try await chat()
                let broken = try await chat()
                #expect(broken.0 == .serviceUnavailable, "\(broken)")
                #expect(broken.1 == "storage", "\(broken)")
                let (status, body) = try await ready()
                #expect(status == .serviceUnavailable, "\(body)")
                #expect(body.contains("refuses writes"), "\(body)")
            }
        }
    }
}

/// The next commits fail with these codes, one each (`ServerConfiguration.storeCommitFault`).
final class StorageFaults: Sendable {
    private let queue = Mutex<[Int32]>([])
    func next() -> Int32? { queue.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
    func add(_ codes: Int32...) { queue.withLock { $0 += codes } }
}
