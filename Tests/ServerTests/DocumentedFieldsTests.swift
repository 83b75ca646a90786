import Foundation
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
@testable import Server
import Testing

/// Every field an answer holds is in the OpenAPI document: the document's objects are open (a client must accept
/// fields it does not know), so schemathesis cannot see a field a type gained and the document did not. Live answers
/// of the read routes, walked against the document's schemas.
@Suite struct DocumentedFieldsTests {
    typealias JSON = [String: Any]

    @Test func everyFieldOfEveryAnswerIsDocumented() async throws {
        try await ServerTests.withServer(answering: { _ in .json(body: ServerTests.completion) }) { app, _ in
            let alice: HTTPFields = [.authorization: "Bearer \(ServerTests.token())", .contentType: "application/json"]
            let admin: HTTPFields = [
                .authorization: "Bearer \(ServerTests.token(subject: "user:root", roles: ["admin"]))",
                .contentType: "application/json",
            ]
            try await app.application.test(.router) { client in
                let document = try #require(
                    try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? JSON)
                let schemas = try #require((document["components"] as? JSON)?["schemas"] as? JSON)
                let paths = try #require(document["paths"] as? JSON)
                var checked = 0
                func check(
                    _ method: HTTPRequest.Method, _ uri: String, _ template: String, _ headers: HTTPFields,
                    body: String? = nil, status: Int = 200
                ) async throws {
                    let answer = try await client.execute(
                        uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
                    ) { r in
                        #expect(Int(r.status.code) == status, "\(uri): \(String(buffer: r.body))")
                        return try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView))
                    }
                    let operation = ((paths[template] as? JSON)?["\(method)".lowercased()]) as? JSON
                    let schema =
                        ((((operation?["responses"] as? JSON)?["\(status)"] as? JSON)?["content"] as? JSON)?[
                            "application/json"] as? JSON)?["schema"]
                    let undocumented = Self.undocumented(answer, schema: try #require(schema, "\(template)"), schemas)
                    #expect(
                        undocumented.isEmpty, "\(method) \(template) answers fields the document lacks: \(undocumented)"
                    )
                    checked += 1
                }
                try await check(
                    .post, "/v1/threads/t1/messages", "/v1/threads/{thread}/messages", alice,
                    body: #"{"text": "Are the pods healthy?"}"#)
                try await check(.post, "/v1/threads", "/v1/threads", alice, body: #"{"threadID": "t2"}"#, status: 201)
                try await check(.get, "/v1/threads", "/v1/threads", alice)
                try await check(.get, "/v1/threads/t1", "/v1/threads/{thread}", alice)
                try await check(.get, "/v1/threads/t1/events", "/v1/threads/{thread}/events", alice)
                try await check(.get, "/v1/events?from=1", "/v1/events", admin)
                try await check(.get, "/v1/audit", "/v1/audit", admin)
                try await check(.get, "/v1/registry", "/v1/registry", admin)
                try await check(
                    .get, "/v1/workspaces/payments/effective-model", "/v1/workspaces/{workspace}/effective-model",
                    admin)
                try await check(.get, "/v1/policy", "/v1/policy", admin)
                try await check(.get, "/v1/policy/history", "/v1/policy/history", admin)
                try await check(.get, "/v1/models", "/v1/models", alice)
                try await check(
                    .post, "/v1/threads/t1/fork", "/v1/threads/{thread}/fork", alice, body: "{}", status: 201)
                try await check(.post, "/v1/threads/t1/replay", "/v1/threads/{thread}/replay", alice)
                try await check(.get, "/v1/threads/t1/diff/t1", "/v1/threads/{thread}/diff/{other}", alice)
                try await check(.get, "/v1/threads/nope", "/v1/threads/{thread}", alice, status: 404)
                try await check(.get, "/readyz", "/readyz", [:])
                #expect(checked == 17)
            }
        }
    }

    /// The paths (`a.b[0].c`) of the object fields in `value` that `schema` does not declare, where it declares any.
    static func undocumented(_ value: Any, schema: Any, _ schemas: JSON, at path: String = "") -> [String] {
        guard var s = schema as? JSON else { return [] }
        if let ref = s["$ref"] as? String {
            s = schemas[ref.replacingOccurrences(of: "#/components/schemas/", with: "")] as? JSON ?? [:]
        }
        if let object = value as? JSON, let properties = s["properties"] as? JSON {
            return object.keys.sorted().flatMap { key -> [String] in
                guard let property = properties[key] else { return [path + key] }
                return undocumented(object[key]!, schema: property, schemas, at: path + key + ".")
            }
        }
        if let array = value as? [Any], let items = s["items"] {
            let base = path.hasSuffix(".") ? String(path.dropLast()) : path
            return array.enumerated().flatMap { undocumented($1, schema: items, schemas, at: base + "[\($0)].") }
        }
        return []
    }
}
