import EventStore

/// Names by the log's dense numbers (`EventView.typeID`, `streamNumber`), so folding millions of events neither hashes
/// names nor takes the store's cache lock per event. Invariant: used by one thread at a time (each decoding thread has its own).
final class NameTables: @unchecked Sendable {
    struct Route {
        let type: String
        let slots: [Int]
        let known: Bool
    }

    private var routes = DenseTable<Route>()
    private var symbols = DenseTable<String>()
    private var streams = DenseTable<StreamID>()

    func route(_ id: UInt32, _ view: EventView, _ make: (String) -> ([Int], Bool)) throws(EventStoreError) -> Route {
        try routes.value(Int(id)) { () throws(EventStoreError) in
            let type = try name(id, view)
            let (slots, known) = make(type)
            return Route(type: type, slots: slots, known: known)
        }
    }

    func name(_ id: UInt32, _ view: EventView) throws(EventStoreError) -> String {
        try symbols.value(Int(id)) { () throws(EventStoreError) in try view.name(id) }
    }

    func stream(_ number: UInt64, _ view: EventView) throws(EventStoreError) -> StreamID {
        try streams.value(Int(clamping: number)) { () throws(EventStoreError) in try view.stream() }
    }
}

/// Values by small dense numbers, filled on first use. Numbers past a bound are looked up each time.
struct DenseTable<Value> {
    private var values: [Value?] = []
    private static var bound: Int { 1 << 24 }

    mutating func value(_ i: Int, _ make: () throws(EventStoreError) -> Value) throws(EventStoreError) -> Value {
        if i < values.count, let value = values[i] { return value }
        let value = try make()
        if i < Self.bound {
            if i >= values.count { values.append(contentsOf: repeatElement(nil, count: max(i - values.count + 1, values.count))) }
            values[i] = value
        }
        return value
    }
}
