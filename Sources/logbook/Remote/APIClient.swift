import ArgumentParser
import AsyncHTTPClient
import CommandSupport
import Engine
import Foundation
import NIOCore
import NIOHTTP1
import Server

/// `--server` and `--token`, shared by the commands that work through a running server's API (so what they do is
/// authorized and recorded like any caller's).
struct ServerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The server (default: $LOGBOOK_SERVER, else http://127.0.0.1:8080).", valueName: "URL"))
    var server: String?
    @Option(
        help: ArgumentHelp(
            """
            A bearer JWT (default: $LOGBOOK_TOKEN, else an admin token minted from $LOGBOOK_JWT_SECRET or ./data/dev-jwt-secret, \
            as `logbook token` does).
            """, valueName: "JWT"))
    var token: String?

    func client() throws -> APIClient {
        let environment = ProcessInfo.processInfo.environment
        let base = server ?? environment["LOGBOOK_SERVER"] ?? "http://127.0.0.1:8080"
        guard let url = URL(string: base), url.scheme == "http" || url.scheme == "https" else {
            throw ValidationError("--server must be an http(s) URL, e.g. http://127.0.0.1:8080")
        }
        if let token = token ?? environment["LOGBOOK_TOKEN"] { return APIClient(base: base, token: token) }
        let secret: [UInt8]
        if let value = environment["LOGBOOK_JWT_SECRET"] {
            secret = Array(value.utf8)
        } else if let data = FileManager.default.contents(atPath: "./data/dev-jwt-secret"), data.count >= 32 {
            secret = [UInt8](data)
        } else {
            throw Failure("no token: pass --token or set LOGBOOK_TOKEN (e.g. from 'logbook token')")
        }
        return APIClient(
            base: base,
            token: DevelopmentToken.mint(
                secret: secret, subject: "user:dev", roles: ["admin"], workspace: "default",
                issuer: "logbook", audience: "logbook", lifetime: .seconds(3600)))
    }
}

/// A small client of Logbook's HTTP API. Errors carry the server's own message (never the token).
struct APIClient: Sendable {
    let base: String
    let token: String

    static let http = HTTPClient.shared

    /// Fails fast, with what to do, when nothing answers at `base` (a request would retry connecting until its
    /// deadline, minutes for a chat). Ten seconds: long enough for a busy server to answer, short for a person.
    func ensureReachable() async throws {
        do {
            let response = try await Self.http.execute(HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 16)
        } catch {
            throw Failure("cannot reach \(base): \(error); is 'logbook serve' running?")
        }
    }

    struct Answer {
        let status: Int
        let body: Data

        /// The body as `T`; an answer of another shape is a `Failure` (a server of another version, most likely).
        func decode<T: Decodable>(_: T.Type) throws -> T {
            do { return try JSONDecoder().decode(T.self, from: body) } catch {
                throw Failure(
                    "the server's answer is not what this logbook expects (\(T.self)): \(String(decoding: body.prefix(200), as: UTF8.self))"
                )
            }
        }
    }

    /// Sends a request; a non-2xx answer is a `Failure` naming the status and the server's message.
    @discardableResult
    func send(_ method: HTTPMethod, _ path: String, body: (any Encodable)? = nil) async throws -> Answer {
        let request = try request(method, path, body: body)
        try await ensureReachable()
        let response: HTTPClientResponse
        do { response = try await Self.http.execute(request, timeout: .seconds(300)) } catch {
            throw Failure("cannot reach \(base): \(error); is 'logbook serve' running?")
        }
        let body = Data(buffer: try await response.body.collect(upTo: 64 << 20))
        let answer = Answer(status: Int(response.status.code), body: body)
        guard (200..<300).contains(answer.status) else { throw Self.failure(answer) }
        return answer
    }

    /// Sends a request whose answer is server-sent events, calling `frame` with each (event, data) as it arrives.
    func stream(
        _ method: HTTPMethod, _ path: String, body: (any Encodable)? = nil, frame: (String, Data) async throws -> Void
    ) async throws {
        var request = try request(method, path, body: body)
        request.headers.add(name: "Accept", value: "text/event-stream")
        try await ensureReachable()
        let response: HTTPClientResponse
        do { response = try await Self.http.execute(request, deadline: .distantFuture) } catch {
            throw Failure("cannot reach \(base): \(error); is 'logbook serve' running?")
        }
        guard response.status.code / 100 == 2 else {
            throw Self.failure(
                Answer(
                    status: Int(response.status.code),
                    body: Data(buffer: try await response.body.collect(upTo: 1 << 20))))
        }
        var pending = ""
        for try await chunk in response.body {
            pending += String(buffer: chunk)
            while let end = pending.range(of: "\n\n") {
                let block = pending[..<end.lowerBound]
                pending = String(pending[end.upperBound...])
                var (event, data) = ("message", "")
                for line in block.split(separator: "\n") {
                    if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { data += line.dropFirst(6) }
                }
                if !data.isEmpty { try await frame(event, Data(data.utf8)) }
            }
        }
    }

    private func request(_ method: HTTPMethod, _ path: String, body: (any Encodable)?) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
        }
        return request
    }

    static func failure(_ answer: Answer) -> Failure {
        guard let error = try? answer.decode(ErrorBody.self).error else {
            return Failure(
                "the server answered \(answer.status): \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
        }
        return Failure("the server answered \(answer.status) \(error.code): \(error.message)")
    }

    /// A path segment or query value, percent-encoded.
    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? text
    }
}
