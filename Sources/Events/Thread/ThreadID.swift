import EventStore
import Foundation

/// A thread's id, validated once where it enters (a path, a header, a body, a command line) and the one place its
/// stream name (`thread/<id>`) is made.
///
/// ## Invariants
/// 1 to `maxBytes` bytes of ASCII letters, digits and `-_.:@`; not `.` or `..`. So an id is never empty, never holds
/// a control character, a `/` (which would name another stream) or a percent-escape, and always fits in a stream id
/// with a fork's suffix to spare.
public struct ThreadID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The longest id, in bytes.
    public static let maxBytes = 128
    public let rawValue: String

    /// Validates `text` as a thread id.
    /// - Throws: `ThreadIDError` saying what is wrong with it (the id is quoted only when it is printable and short).
    public init(_ text: String) throws(ThreadIDError) {
        guard !text.isEmpty else {
            throw ThreadIDError("a thread id is empty; give 1 to \(Self.maxBytes) characters of A-Z a-z 0-9 - _ . : @")
        }
        guard text.utf8.count <= Self.maxBytes else {
            throw ThreadIDError("a thread id is \(text.utf8.count) bytes long; the limit is \(Self.maxBytes)")
        }
        guard text.utf8.allSatisfy(Self.isAllowed), text != ".", text != ".." else {
            let shown =
                text.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F }
                ? "'\(text)'" : "the id given"
            throw ThreadIDError(
                "\(shown) is not a thread id: use only A-Z a-z 0-9 - _ . : @ (no spaces, '/', '%' or control characters)"
            )
        }
        rawValue = text
    }

    /// A fresh id for a thread the caller did not name: `prefix` and a random UUID.
    public static func fresh(_ prefix: String = "t") -> ThreadID {
        ThreadID(unchecked: "\(prefix)-\(UUID().uuidString.lowercased())")
    }

    /// An id derived from this one for a new thread (a fork, a counterfactual): this id cut to fit, `-<kind>-`, and eight
    /// random hex digits.
    public func derived(_ kind: String) -> ThreadID {
        let suffix = "-\(kind)-\(UUID().uuidString.prefix(8).lowercased())"
        return ThreadID(unchecked: String(rawValue.prefix(Self.maxBytes - suffix.utf8.count)) + suffix)
    }

    /// The thread's stream: `thread/<id>`.
    public var stream: StreamID {
        // Valid by construction: non-empty, no NUL.
        do { return try StreamID(Self.streamPrefix + rawValue) } catch {
            preconditionFailure("thread id '\(rawValue)' makes no stream id: \(error)")
        }
    }

    /// The thread whose stream `stream` is, if it is a thread's.
    public init?(stream: StreamID) {
        guard stream.rawValue.hasPrefix(Self.streamPrefix),
            let id = try? ThreadID(String(stream.rawValue.dropFirst(Self.streamPrefix.count)))
        else { return nil }
        self = id
    }

    public var description: String { rawValue }
    public static func < (a: ThreadID, b: ThreadID) -> Bool { a.rawValue < b.rawValue }

    /// The prefix of every thread's stream name.
    public static let streamPrefix = "thread/"

    private init(unchecked rawValue: String) { self.rawValue = rawValue }

    /// Whether `byte` may be part of an id: an ASCII letter or digit, or one of `-_.:@` (thread ids, and the names of
    /// registry entries and workspaces).
    public static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "@"): true
        default: false
        }
    }
}

/// Why a text is not a thread id; the message says what an id may hold.
public struct ThreadIDError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A literal id (in code and tests) is checked like any other; an invalid literal is a programming error.
extension ThreadID: ExpressibleByStringLiteral {
    public init(stringLiteral text: String) {
        do { try self.init(text) } catch { preconditionFailure("the literal '\(text)' is not a thread id: \(error)") }
    }
}
