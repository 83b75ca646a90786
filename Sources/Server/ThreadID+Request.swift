import Events
import Foundation
import Hummingbird

extension ThreadID {
    /// A thread id as a request gives it (a path segment, percent-escapes decoded; a header; a body field), or 400
    /// naming where it came from and what an id may hold.
    static func parse(_ text: String, from source: String, percentEncoded: Bool = false) throws(APIError) -> ThreadID {
        guard let decoded = percentEncoded ? text.removingPercentEncoding : text else {
            throw APIError(.badRequest, "bad_request", "\(source) holds a malformed percent-escape")
        }
        do { return try ThreadID(decoded) } catch {
            throw APIError(.badRequest, "bad_request", "\(source): \(error.message)")
        }
    }
}

extension AppRequestContext {
    /// The thread id in the path parameter `name` (`:thread`), validated.
    func threadID(_ name: String = "thread") throws -> ThreadID {
        try ThreadID.parse(try parameters.require(name), from: "the thread id in the path", percentEncoded: true)
    }
}

/// The names of registry entries (models, MCP servers, agents) and workspaces, as the path gives them: 1 to
/// `maxLength` of A-Z a-z 0-9 - _ . : @ — what the OpenAPI document says, so a client can check before it sends.
enum EntryName {
    static let maxLength = 64
    static let pattern = "^[A-Za-z0-9_.:@-]{1,64}$"

    static func isValid(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.count <= maxLength && text.utf8.allSatisfy(ThreadID.isAllowed)
    }
}

extension AppRequestContext {
    /// The registry entry or workspace name in the path parameter `parameter`, validated (`EntryName`).
    func entryName(_ parameter: String) throws -> String {
        let raw = try parameters.require(parameter)
        guard let name = raw.removingPercentEncoding, EntryName.isValid(name) else {
            throw APIError(
                .badRequest, "bad_request",
                "the \(parameter) in the path is 1 to \(EntryName.maxLength) of A-Z a-z 0-9 - _ . : @")
        }
        return name
    }
}
