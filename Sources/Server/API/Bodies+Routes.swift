import Hummingbird

// The bodies a route returns as its whole answer, and those it reads.
extension AuditPageBody: ResponseEncodable {}
extension ThreadListBody: ResponseEncodable {}
extension RunResultBody: ResponseEncodable {}
extension RegistryBody: ResponseEncodable {}
extension LogPageBody: ResponseEncodable {}
extension ThreadEventsPageBody: ResponseEncodable {}

extension PostMessageBody: KnownFields {
    static let fields: Set<String> = ["text", "agent", "title", "stream"]
}
