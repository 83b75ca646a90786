import Foundation

/// The authorization policy changed: the whole policy after the change (roles → permissions), what changed, and why.
/// The first event of stream `policy` is the first policy the log knows; each later one replaces it. The seq of the
/// change in force is the policy's version, which every `authz.decided` names.
public struct PolicyChanged: EventPayload {
    public static let typeName = "policy.changed"
    /// What was done: the whole policy replaced, or one role set or removed.
    public enum Change: String, Codable, Sendable, BinaryCodableEnum {
        case replaced, roleSet = "role.set", roleRemoved = "role.removed"
        public static let cases: [Self] = [.replaced, .roleSet, .roleRemoved]
    }

    public var change: Change
    /// The role set or removed (nil for a replacement).
    public var role: String?
    /// The policy after the change.
    public var roles: [String: [String]]
    public var reason: String?

    public init(change: Change, role: String? = nil, roles: [String: [String]], reason: String? = nil) {
        (self.change, self.role, self.roles, self.reason) = (change, role, roles, reason)
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(change); w.write(role)
        let sorted = roles.sorted { $0.key < $1.key }
        w.write(sorted.count)
        for (role, permissions) in sorted { w.write(role); w.write(permissions) }
        w.write(reason)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        let change: Change = try r.read()
        let role = try r.readOptionalString()
        let count = try r.readInt()
        guard count >= 0, count <= 100_000 else { throw PayloadDecodingError("policy.changed holds \(count) roles") }
        var roles: [String: [String]] = [:]
        for _ in 0..<count { roles[try r.readString()] = try r.readStrings() }
        self.init(change: change, role: role, roles: roles, reason: try r.readOptionalString())
    }
}
