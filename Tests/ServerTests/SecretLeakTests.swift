import AsyncHTTPClient
import Engine
import Foundation
import LogbookTestSupport
import NIOCore
import Testing

/// "Nothing leaked": `logbook serve` as a process, logging at trace level, with a model API key in its environment and
/// callers' bearer tokens on every request — good ones, expired, forged, a failing model, the OpenAI-compatible
/// endpoint, audit export. Afterwards neither the key nor any token (nor the JWT secret) occurs in what the process
/// wrote (standard output and error) or anywhere in the log (every event, exported); nor does a trace collector's key
/// (tracing on, its collector down).
@Suite(.serialized) struct SecretLeakTests {
    @Test func noKeyOrTokenReachesTheProcessOutputOrTheLog() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the logbook product first")
        let apiKey = "sk-live-\(UUID().uuidString)"
        let jwtSecret = "jwt-secret-\(UUID().uuidString)"
        // A trace collector's credentials (as Langfuse takes them): swift-otel logs each setting it reads.
        let collectorKey = "pk-lf-\(UUID().uuidString)"
        let llm = try await ScriptedLLMServer(fallback: { request in
            .json(body: Wire.completion(text: "Fine.", finish: "stop", usage: (3, 1)))
        })
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-leak-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (out, err) = (dir.appendingPathComponent("stdout"), dir.appendingPathComponent("stderr"))
        for file in [out, err] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }

        let port = try await FreePort.find()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: CLITests.binary)
        server.arguments = [
            "serve", "--data", dir.appendingPathComponent("data").path, "--port", String(port), "--log-level", "trace",
            "--rate-limit", "0",
        ]
        server.environment = ProcessInfo.processInfo.environment.merging(
            [
                "LOGBOOK_JWT_SECRET": jwtSecret, "LOGBOOK_LLM_BASE_URL": llm.baseURL, "LOGBOOK_LLM_MODEL": "lab-model",
                "LOGBOOK_LLM_API_KEY": apiKey,
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(try await FreePort.find())",
                "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic \(collectorKey)",
            ],
            uniquingKeysWith: { _, new in new })
        server.standardOutput = try FileHandle(forWritingTo: out)
        server.standardError = try FileHandle(forWritingTo: err)
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

        let base = "http://127.0.0.1:\(port)"
        let secret = Array(jwtSecret.utf8)
        func token(_ subject: String, lifetime: Int = 600) -> String {
            DevelopmentToken.mint(
                secret: secret, subject: subject, roles: ["admin"], workspace: "payments", issuer: "logbook",
                audience: "logbook",
                lifetime: .seconds(Int64(lifetime)))
        }
        let good = token("user:alice")
        let expired = token("user:bob", lifetime: -3600)
        let forged = DevelopmentToken.mint(
            secret: Array("another-secret-of-32-bytes-or-more!".utf8), subject: "user:mallory", roles: ["admin"],
            issuer: "logbook", audience: "logbook")
        func call(_ method: String, _ path: String, _ bearer: String, _ body: String? = nil) async throws -> Int {
            var request = HTTPClientRequest(url: base + path)
            request.method = .init(rawValue: method)
            request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json");
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 24)
            return Int(response.status.code)
        }
        var up = false
        let starting = ContinuousClock.now + .seconds(90)  // a try follows every wait, however long the wait took
        while !up {
            up = (try? await call("GET", "/healthz", good)) == 200
            if !up { guard ContinuousClock.now < starting else { break }; try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(
            up, "the server did not start: \(String(decoding: (try? Data(contentsOf: err)) ?? Data(), as: UTF8.self))")

        #expect(
            try await call("POST", "/v1/threads/leak-1/messages", good, #"{"text": "Are the pods healthy?"}"#) == 200)
        #expect(
            try await call("POST", "/v1/threads/leak-1/messages", good, #"{"text": "And now?", "stream": true}"#) == 200
        )
        llm.enqueue(.json(status: 401, body: #"{"error": {"message": "Incorrect API key provided: \#(apiKey)"}}"#))
        #expect(try await call("POST", "/v1/threads/leak-2/messages", good, #"{"text": "Fail, please."}"#) == 502)
        #expect(try await call("GET", "/v1/threads/leak-1", expired) == 401)
        #expect(try await call("GET", "/v1/threads/leak-1", forged) == 401)
        #expect(try await call("GET", "/v1/threads/leak-1", "not-a-jwt.\(apiKey)") == 401)
        #expect(
            try await call(
                "POST", "/v1/chat/completions", good,
                #"{"model": "lab-model", "messages": [{"role": "user", "content": "hi"}]}"#) == 200)
        #expect(
            try await call(
                "PUT", "/v1/registry/models/pasted", good,
                #"{"provider": "openai", "endpoint": "https://api.openai.com/v1", "secretReference": "\#(apiKey)"}"#)
                == 422)
        #expect(try await call("GET", "/v1/audit/export?format=csv", good) == 200)
        // The model was called with the key: it was used, just never written down.
        #expect(llm.requests.contains { $0.header("Authorization") == "Bearer \(apiKey)" })

        server.terminate()
        let deadline = ContinuousClock.now + .seconds(20)
        while server.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!server.isRunning, "the server did not stop on SIGTERM")
        await llm.shutdown()

        let output = String(decoding: try Data(contentsOf: out) + Data(contentsOf: err), as: UTF8.self)
        #expect(output.contains("serving"), "\(output.prefix(2000))")
        #expect(output.contains("Server started"), "\(output.prefix(2000))")
        let export = try await LiveProcess.run([
            CLITests.binary, "export", "--data", dir.appendingPathComponent("data").path,
        ])
        try #require(export.status == 0, "\(export.errors)")
        #expect(export.output.contains("leak-1"))
        #expect(export.output.contains("authz.decided"))
        #expect(export.output.contains("llm.failed"))
        for (name, secret) in [
            ("the API key", apiKey), ("the JWT secret", jwtSecret), ("the collector's key", collectorKey),
            ("a good token", good),
            ("an expired token", expired),
            ("a forged token", forged),
        ] {
            // A token's signature alone is enough to misuse it: look for it as well as the whole string.
            let needles =
                [secret] + (secret.split(separator: ".").count == 3 ? [String(secret.split(separator: ".")[2])] : [])
            for needle in needles {
                #expect(!output.contains(needle), "\(name) is in the server's output")
                #expect(!export.output.contains(needle), "\(name) is in the log")
            }
        }
    }
}

/// A loopback port nothing listens on (bound to port 0, then released).
enum FreePort {
    static func find() async throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw CancellationError() }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
