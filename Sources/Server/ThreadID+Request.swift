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
        do { return try ThreadID(decoded) } catch { throw APIError(.badRequest, "bad_request", "\(source): \(error.message)") }
    }
}

extension AppRequestContext {
    /// The thread id in the path parameter `name` (`:thread`), validated.
    func threadID(_ name: String = "thread") throws -> ThreadID {
        try ThreadID.parse(try parameters.require(name), from: "the thread id in the path", percentEncoded: true)
    }
}
