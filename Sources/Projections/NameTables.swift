import EventStore
import Events

/// Names by the log's dense numbers (`EventView.typeID`, `streamNumber`), so folding millions of events neither hashes
/// names nor takes the store's cache lock per event. A value type: each decoding thread has its own.
struct NameTables {
    /// Where events of one type go: the slots that fold them, the type's decoder (nil: a type this build does not
    /// know), and whether any of those slots reads bulk text. A class: handing it on per event costs one reference
    /// count, not one per field.
    final class Route: Sendable {
        let slots: [Int]
        let decoder: EventCatalog.Decoder?
        let readsBulkText: Bool

        init(slots: [Int], decoder: EventCatalog.Decoder?, readsBulkText: Bool) {
            (self.slots, self.decoder, self.readsBulkText) = (slots, decoder, readsBulkText)
        }
    }

    private var routes = DenseTable<Route>()
    private var symbols = DenseTable<String>()
    private var streams = DenseTable<StreamID>()

    /// The route of type number `id`; `slots` gives the slots that want a type, and whether any of them reads bulk text.
    mutating func route(
        _ id: UInt32, _ view: EventView, slots: (String) -> (slots: [Int], readsBulkText: Bool)
    ) throws(EventStoreError) -> Route {
        if let route = routes[Int(id)] { return route }
        let type = try name(id, view)
        let wanted = slots(type)
        let route = Route(
            slots: wanted.slots, decoder: EventCatalog.decoder(for: type), readsBulkText: wanted.readsBulkText)
        routes.set(route, at: Int(id))
        return route
    }

    /// The event's context, its names from the tables.
    mutating func context(_ view: EventView) throws(EventStoreError) -> EventContext {
        EventContext(
            seq: view.seq, stream: try stream(view.streamNumber, view), revision: view.revision,
            id: view.id, timeNanoseconds: view.timeNanoseconds,
            actor: try view.actorID.map { (id) throws(EventStoreError) in try name(id, view) },
            workspace: try view.workspaceID.map { (id) throws(EventStoreError) in try name(id, view) },
            correlationID: view.correlationID, causationID: view.causationID)
    }

    mutating func name(_ id: UInt32, _ view: EventView) throws(EventStoreError) -> String {
        if let name = symbols[Int(id)] { return name }
        let name = try view.name(id)
        symbols.set(name, at: Int(id))
        return name
    }

    mutating func stream(_ number: UInt64, _ view: EventView) throws(EventStoreError) -> StreamID {
        if let stream = streams[Int(clamping: number)] { return stream }
        let stream = try view.stream()
        streams.set(stream, at: Int(clamping: number))
        return stream
    }
}

/// Values by small dense numbers, filled on first use. Numbers past a bound are looked up each time.
struct DenseTable<Value> {
    private var values: [Value?] = []
    private static var bound: Int { 1 << 24 }

    subscript(i: Int) -> Value? { i < values.count ? values[i] : nil }

    /// Remembers `value` as number `i`'s (unless `i` is past the bound).
    mutating func set(_ value: Value, at i: Int) {
        guard i < Self.bound else { return }
        if i >= values.count {
            values.append(contentsOf: repeatElement(nil, count: max(i - values.count + 1, values.count)))
        }
        values[i] = value
    }
}
