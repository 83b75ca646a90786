import CWorkload
import EventStore
import Events
import EventsWorkload
import Foundation

/// The events of the C reference benchmark (`../shared/bench/limits`): same generator, same seed, same bytes.
struct Workload {
    /// One generated event: its stream (of 256 active ones), type and JSON payload.
    struct Event: Sendable {
        let stream: StreamID
        let type: String
        let payload: Data
    }

    /// limits.c measures the events generated from this seed.
    static let referenceSeed: UInt64 = 0x5eed0001

    /// Generates `count` events; `progress` is called now and then with the number done.
    static func generate(count: Int, seed: UInt64 = referenceSeed, progress: (Int) -> Void = { _ in }) -> [Event] {
        guard let generator = lw_create(seed) else { fatalError("out of memory creating the workload generator") }
        defer { lw_destroy(generator) }
        var events: [Event] = []
        events.reserveCapacity(count)
        var streams: [Data: StreamID] = [:]
        var types: [Int32: String] = [:]
        var buffer = [CChar](repeating: 0, count: Int(LW_MAX_EVENT_BYTES))
        var key = [UInt8](repeating: 0, count: 24)
        for i in 0..<count {
            var type: Int32 = 0
            let length = buffer.withUnsafeMutableBufferPointer { out in
                key.withUnsafeMutableBufferPointer { k in lw_next(generator, out.baseAddress, k.baseAddress, &type) }
            }
            let uuid = Data(key[0..<16])
            let stream =
                streams[uuid]
                ?? {
                    let id = StreamID(
                        generated: ThreadID.streamPrefix + uuid.map { String(format: "%02x", $0) }.joined())
                    streams[uuid] = id
                    return id
                }()
            let typeName =
                types[type]
                ?? {
                    let name = String(cString: lw_type_name(type))
                    types[type] = name
                    return name
                }()
            let payload = buffer.withUnsafeBytes { Data($0.prefix(length)) }
            events.append(Event(stream: stream, type: typeName, payload: payload))
            if i % 10_000 == 0 { progress(i) }
        }
        return events
    }
}
