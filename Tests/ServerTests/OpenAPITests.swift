import Foundation
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
@testable import Server
import Testing

/// `/openapi.json`: it names exactly the router's routes, its references resolve, and schemathesis (installed by
/// `./scripts/setup.sh`) finds no server error and no answer that breaks it on a live server.
@Suite(.serialized) struct OpenAPITests {
    @Test func theDocumentDescribesExactlyTheRoutesTheServerHas() async throws {
        try await ServerTests.withServer { app, _ in
            #expect(
                Set(app.routes) == OpenAPIDocument.routes,
                "undocumented: \(Set(app.routes).subtracting(OpenAPIDocument.routes).sorted()); documented but absent: \(OpenAPIDocument.routes.subtracting(app.routes).sorted())"
            )
            try await app.application.test(.router) { client in
                try await client.execute(uri: "/openapi.json", method: .get) { response in
                    #expect(response.status == .ok)
                    let document = try #require(
                        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
                    #expect(document["openapi"] as? String == "3.0.3")
                    let paths = try #require(document["paths"] as? [String: [String: Any]])
                    #expect(paths["/v1/threads/{thread}/messages"]?["post"] != nil)
                    #expect(paths["/healthz"]?["get"] != nil)
                    let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
                    var references: [String] = []
                    Self.collectReferences(document, into: &references)
                    #expect(references.count > 40)
                    let dangling = references.filter {
                        schemas[$0.replacingOccurrences(of: "#/components/schemas/", with: "")] == nil
                    }
                    #expect(dangling.isEmpty, "unresolved references: \(dangling)")
                    let operationIDs = paths.values.flatMap(\.values).compactMap {
                        ($0 as? [String: Any])?["operationId"] as? String
                    }
                    #expect(Set(operationIDs).count == operationIDs.count)
                    #expect(operationIDs.count == app.routes.count)
                }
            }
        }
    }

    static func collectReferences(_ value: Any, into references: inout [String]) {
        if let object = value as? [String: Any] {
            if let ref = object["$ref"] as? String { references.append(ref) }
            for v in object.values { collectReferences(v, into: &references) }
        } else if let array = value as? [Any] {
            for v in array { collectReferences(v, into: &references) }
        }
    }

    /// Two passes, seeded and bounded: an operator (chat and read, registry changes denied) over every operation, the
    /// model answering whatever it is asked; then an administrator over every operation that does not call the model
    /// (its random registry changes would otherwise point later chats at models that do not exist). The live SSE
    /// tail never ends, so it is tested on its own.
    /// Schemathesis' settings (every check; 422 counts as accepting a schema-valid request, see the file).
    static let configuration = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/schemathesis.toml"
    ).path

    @Test func schemathesisFindsNoServerErrorAndEveryAnswerMatchesTheDocument() async throws {
        try await ServerTests.withServer(
            answering: { request in
                if request.json["stream"] as? Bool == true {
                    return .sse(events: [
                        Wire.chunk(content: "Fine."), Wire.chunk(finish: "stop"), Wire.usageChunk(3, 1), "[DONE]",
                    ])
                }
                return .json(body: Wire.completion(text: "Fine.", finish: "stop", usage: (3, 1)))
            }, configure: { $0.rateLimit = nil }
        ) { app, _ in
            try await app.application.test(.live) { client in
                let port = try #require(client.port)
                let operator_ = ServerTests.token(expiresIn: 3600)
                let admin = ServerTests.token(subject: "user:root", roles: ["admin"], expiresIn: 3600)
                // The thread the document's examples name, so they reach past "not found".
                try await client.execute(
                    uri: "/v1/threads/t-demo/messages", method: .post,
                    headers: [.authorization: "Bearer \(operator_)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"text": "hello"}"#)
                ) { #expect($0.status == .ok) }
                let modelCalling = "^/v1/(threads/[^/]+/(messages|fork|replay)|chat/completions)$"
                for (token, exclusions) in [
                    (operator_, ["--exclude-path", "/v1/events/stream"]),
                    (admin, ["--exclude-path", "/v1/events/stream", "--exclude-path-regex", modelCalling]),
                ] {
                    let (status, output, errors) = try await LiveProcess.run(
                        [
                            "schemathesis", "--config-file", Self.configuration, "run",
                            "http://127.0.0.1:\(port)/openapi.json", "-H", "Authorization: Bearer \(token)",
                            "--checks", "all",
                            "--phases", "examples,coverage,fuzzing", "--max-examples", "15", "--seed", "20261122",
                            "--workers", "1",
                            "--request-timeout", "20", "--suppress-health-check", "all",
                        ] + exclusions)
                    #expect(
                        status == 0,
                        "schemathesis found problems (status \(status)):\n\(output.suffix(20000))\n\(errors.suffix(2000))"
                    )
                    #expect(output.contains("passed"), "\(output.suffix(2000))")
                }
            }
        }
    }
}
