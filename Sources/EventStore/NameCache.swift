import Synchronization

/// Committed stream numbers and symbols with their names, so decoding an event rarely looks them up in LMDB.
///
/// Only names read from committed transactions enter it, and numbers are never reused once committed, so an entry
/// never goes stale. Bounded: when full it is emptied and refills from the log.
final class NameCache: Sendable {
    private let streams = Mutex<[UInt64: StreamID]>([:])
    private let symbols = Mutex<[UInt32: String]>([:])
    private let capacity: Int

    init(capacity: Int = 65_536) { self.capacity = capacity }

    func stream(_ number: UInt64, txn: LMDBTransaction) throws(EventStoreError) -> StreamID {
        if let s = streams.withLock({ $0[number] }) { return s }
        guard let bytes = try txn.get(txn.dbs.streamNames, number), let name = String(validatingUTF8Bytes: bytes) else {
            throw EventStoreError(.corrupt, "stream number \(number) has no valid name; run 'logbook verify'")
        }
        let id = StreamID(unchecked: name)
        streams.withLock { cache in
            if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
            cache[number] = id
        }
        return id
    }

    func symbol(_ symbol: UInt32, txn: LMDBTransaction) throws(EventStoreError) -> String {
        if let s = symbols.withLock({ $0[symbol] }) { return s }
        guard let bytes = try txn.get(txn.dbs.symbolNames, symbol.bigEndianBytes),
            let name = String(validatingUTF8Bytes: bytes)
        else {
            throw EventStoreError(.corrupt, "symbol \(symbol) has no valid name; run 'logbook verify'")
        }
        symbols.withLock { cache in
            if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
            cache[symbol] = name
        }
        return name
    }
}
