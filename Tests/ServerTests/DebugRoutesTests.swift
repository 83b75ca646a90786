@testable import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
@testable import Server
import Testing

/// Fork, replay and diff through the API.
@Suite(.serialized) struct DebugRoutesTests {
    static func json(_ body: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }

    @Test func aThreadIsForkedReplayedAndDiffed() async throws {
        try await ServerTests.withServer { app, llm in
            let auth: HTTPFields = [.authorization: "Bearer \(ServerTests.token())", .contentType: "application/json"]
            try await app.application.test(.router) { client in
                llm.enqueue(
                    .json(body: ServerTests.completion),
                    .json(body: Wire.completion(text: "Still healthy.", finish: "stop")))
                try await client.execute(
                    uri: "/v1/threads/t1/messages", method: .post, headers: auth,
                    body: ByteBuffer(string: #"{"text": "Healthy?"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                let end = app.store.lastSeq.rawValue
                try await client.execute(
                    uri: "/v1/threads/t1/fork", method: .post, headers: auth,
                    body: ByteBuffer(string: #"{"at": \#(end), "threadID": "t1-b", "text": "Still?"}"#)
                ) { r in
                    #expect(r.status == .created, "\(String(buffer: r.body))")
                    let body = Self.json(r.body)
                    #expect(body["threadID"] as? String == "t1-b")
                    #expect(body["atSeq"] as? Int == Int(end))
                    #expect((body["run"] as? [String: Any])?["answer"] as? String == "Still healthy.")
                }
                try await client.execute(
                    uri: "/v1/threads/t1/fork", method: .post, headers: auth,
                    body: ByteBuffer(string: #"{"threadID": "t1-b"}"#)
                ) { #expect($0.status == .conflict) }
                try await client.execute(
                    uri: "/v1/threads/t1/fork", method: .post, headers: auth,
                    body: ByteBuffer(string: #"{"at": 999999}"#)
                ) { #expect($0.status == .unprocessableContent) }
                try await client.execute(
                    uri: "/v1/threads/nope/fork", method: .post, headers: auth, body: ByteBuffer(string: "{}")
                ) {
                    #expect($0.status == .notFound)
                }
                try await client.execute(uri: "/v1/threads/t1-b/replay", method: .post, headers: auth) { r in
                    #expect(r.status == .ok, "\(String(buffer: r.body))")
                    let body = Self.json(r.body)
                    #expect(body["runsReplayed"] as? Int == 2, "\(body)")
                    #expect(body["divergence"] == nil, "\(body)")
                }
                try await client.execute(uri: "/v1/threads/t1/diff/t1-b", method: .get, headers: auth) { r in
                    #expect(r.status == .ok, "\(String(buffer: r.body))")
                    let body = Self.json(r.body)
                    let shared = try #require(body["shared"] as? Int)
                    #expect(shared > 3, "\(body)")
                    #expect(body["firstDivergence"] as? Int == shared, "\(body)")
                    #expect(
                        ((body["b"] as? [String: Any])?["steps"] as? [[String: Any]])?.last?["summary"] as? String
                            == "completed after 1 steps")
                }
                // A counterfactual: other instructions, recorded answers: a new thread that says what changed.
                try await client.execute(
                    uri: "/v1/threads/t1/replay", method: .post, headers: auth,
                    body: ByteBuffer(
                        string:
                            #"{"mode": "counterfactual", "threadID": "t1-cf", "substitution": {"instructions": "Be brief."}}"#
                    )
                ) { r in
                    #expect(r.status == .created, "\(String(buffer: r.body))")
                    let body = Self.json(r.body)
                    #expect(body["threadID"] as? String == "t1-cf")
                    #expect(body["substitution"] as? String == "instructions: Be brief.")
                    #expect(
                        (body["divergence"] as? [String: Any])?["aspect"] as? String == "prompt composition", "\(body)")
                }
                try await client.execute(uri: "/v1/threads/t1-cf", method: .get, headers: auth) { r in
                    #expect(r.status == .ok)
                    #expect((Self.json(r.body)["thread"] as? [String: Any])?["forkedFrom"] as? String == "t1")
                }
                try await client.execute(
                    uri: "/v1/threads/t1/replay", method: .post, headers: auth,
                    body: ByteBuffer(string: #"{"mode": "dream"}"#)
                ) {
                    #expect($0.status == .badRequest)
                }
                // Someone else's thread: not theirs to fork (thread.read:own only), and the denial is recorded.
                let bob: HTTPFields = [
                    .authorization: "Bearer \(ServerTests.token(subject: "user:bob"))",
                    .contentType: "application/json",
                ]
                try await client.execute(
                    uri: "/v1/threads/t1/fork", method: .post, headers: bob, body: ByteBuffer(string: "{}")
                ) {
                    #expect($0.status == .forbidden)
                }
                try await client.execute(uri: "/v1/threads/t1/replay", method: .post, headers: bob) {
                    #expect($0.status == .forbidden)
                }
            }
        }
    }
}
