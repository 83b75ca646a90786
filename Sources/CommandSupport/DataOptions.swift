import ArgumentParser
import EventStore

/// `--data DIR`, shared by every command that works on a log.
public struct DataOptions: ParsableArguments {
    public init() {}

    @Option(name: .long, help: ArgumentHelp("The log's directory.", valueName: "DIR"))
    public var data: String = "./data"

    /// Opens the log read-only; the error says what to check when there is none.
    public func openReadOnly() throws -> EventStore {
        var configuration = EventStore.Configuration(directory: data)
        configuration.readOnly = true
        return try EventStore.open(configuration)
    }
}
