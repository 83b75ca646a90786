import ArgumentParser
import Events

/// A thread id on the command line is checked where it is parsed, like one in a path or a header.
extension ThreadID: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(argument) }
}
