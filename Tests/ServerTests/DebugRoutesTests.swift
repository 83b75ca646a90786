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
                    let forked = try ServerTests.decode(ThreadRoutes.ForkedBody.self, r.body)
                    #expect(forked.threadID == "t1-b")
                    #expect(forked.atSeq.rawValue == end)
                    #expect(forked.run?.answer == "Still healthy.")
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
                    let report = try ServerTests.decode(ReplayReport.self, r.body)
                    #expect(report.runsReplayed == 2, "\(report)")
                    #expect(report.divergence == nil, "\(report)")
                }
                try await client.execute(uri: "/v1/threads/t1/diff/t1-b", method: .get, headers: auth) { r in
                    #expect(r.status == .ok, "\(String(buffer: r.body))")
                    let diff = try ServerTests.decode(ThreadDiff.self, r.body)
                    #expect(diff.shared > 3, "\(diff)")
                    #expect(diff.firstDivergence == diff.shared, "\(diff)")
                    #expect(diff.b.steps.last?.summary == "completed after 1 steps")
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
                    let result = try ServerTests.decode(CounterfactualResult.self, r.body)
                    #expect(result.threadID == "t1-cf")
                    #expect(result.substitution == "instructions: Be brief.")
                    #expect(result.divergence?.aspect == "prompt composition", "\(result)")
                }
                try await client.execute(uri: "/v1/threads/t1-cf", method: .get, headers: auth) { r in
                    #expect(r.status == .ok)
                    let detail = try ServerTests.decode(ThreadDetailBody.self, r.body)
                    #expect(detail.thread.forkedFrom == "t1")
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
