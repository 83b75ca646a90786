import Foundation

/// Which secrets a registry entry may name: the operator's allow-list of references, never the server's own keys.
///
/// A registry administrator chooses where a model's API key goes (its endpoint) and which secret is sent there, so a
/// reference to the server's JWT signing key, or to a file in its data directory, would hand that key to anyone who
/// may edit the registry. References are checked when an entry is registered and again each time one is resolved
/// (a model recorded before the scope was narrowed, a symbolic link changed since).
///
/// Patterns are references with `*` matching any run of characters: `env:LOGBOOK_SECRET_*`, `file:/run/secrets/*`.
/// File references are compared as absolute paths with `.`, `..` and symbolic links resolved.
public struct SecretScope: Sendable, Equatable {
    /// The references that may be named (patterns).
    public var allowed: [String]
    /// Variables no reference may name, whatever `allowed` says: the server's own secrets.
    public var forbiddenVariables: Set<String>
    /// Directories no file reference may point into, whatever `allowed` says (the log's data directory).
    public var forbiddenDirectories: [String]

    /// What a fresh server allows: variables named `LOGBOOK_SECRET_*`, the fallback model's key, and the providers'
    /// customary key variables; no files.
    public static let defaultAllowed = [
        "env:LOGBOOK_SECRET_*", "env:LOGBOOK_LLM_API_KEY", "env:OPENAI_API_KEY", "env:ANTHROPIC_API_KEY",
        "env:AZURE_OPENAI_API_KEY",
    ]
    /// The server's own secrets.
    public static let serverVariables: Set<String> = ["LOGBOOK_JWT_SECRET"]

    public init(
        allowed: [String] = SecretScope.defaultAllowed, forbiddenVariables: Set<String> = SecretScope.serverVariables,
        forbiddenDirectories: [String] = []
    ) {
        (self.allowed, self.forbiddenVariables, self.forbiddenDirectories) = (
            allowed, forbiddenVariables, forbiddenDirectories
        )
    }

    /// Checks that `text` is a well-formed reference this scope allows.
    /// - Throws: `SecretError.malformedReference`, or `.notAllowed` saying what may be named.
    public func check(_ text: String) throws(SecretError) {
        let reference = try SecretReference(text)
        let canonical: String
        switch reference {
        case .environment(let name):
            guard !forbiddenVariables.contains(name) else { throw SecretError.notAllowed(reference, allowed: allowed) }
            canonical = reference.description
        case .file(let path):
            let resolved = Self.canonicalPath(path)
            guard path.hasPrefix("/"), !forbiddenDirectories.contains(where: { Self.isInside(resolved, $0) }) else {
                throw SecretError.notAllowed(reference, allowed: allowed)
            }
            canonical = "file:\(resolved)"
        }
        guard allowed.contains(where: { Policy.glob($0[...], canonical[...]) }) else {
            throw SecretError.notAllowed(reference, allowed: allowed)
        }
    }

    /// `path` absolute, with `.`, `..` and symbolic links resolved.
    static func canonicalPath(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    static func isInside(_ path: String, _ directory: String) -> Bool {
        let dir = canonicalPath(directory)
        return path == dir || path.hasPrefix(dir.hasSuffix("/") ? dir : dir + "/")
    }
}
