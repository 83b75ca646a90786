import Foundation
import Synchronization

/// Event ids: time-ordered UUIDs (version 7, RFC 9562), strictly increasing within a process.
///
/// Layout of the ids `make()` returns: 48 bits of Unix milliseconds, the version (7), a 12-bit counter within the
/// millisecond (rand_a, from 0; past 4,095 the next millisecond is borrowed), the variant, and 62 bits chosen at random
/// once per process (`node`, rand_b). Two processes' ids differ in their node; one process's grow.
///
/// Increasing ids let the event-id index grow at its end (`EventIDIndex`), and an id whose node the log has registered
/// is stored in ~6 bytes instead of 16 (`EventIDNodes`). They are unique, not secret: an id tells the time it was made
/// and which ids came from the same process.
public enum EventID {
    /// The 62 bits every id of this process ends with.
    public static let node = UInt64.random(in: 0...nodeMask)

    private struct State {
        var lastMilliseconds: UInt64 = 0
        var counter: UInt16 = 0
    }

    private static let state = Mutex(State())

    /// A new UUIDv7 for now, greater than every id this process made before.
    public static func make() -> UUID {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let (ms, counter) = state.withLock { s -> (UInt64, UInt16) in
            if now > s.lastMilliseconds {
                s.lastMilliseconds = now
                s.counter = 0
            } else if s.counter == maxCounter {  // 4,096 ids in one millisecond: borrow the next one
                s.lastMilliseconds += 1
                s.counter = 0
            } else {
                s.counter += 1
            }
            return (s.lastMilliseconds, s.counter)
        }
        return layout(milliseconds: ms, counter: counter, node: node)
    }

    /// A UUIDv7 for the given time, with randomness from `generator` (seeded generators give reproducible ids).
    public static func make(unixMilliseconds: UInt64, using generator: inout some RandomNumberGenerator) -> UUID {
        layout(
            milliseconds: unixMilliseconds, counter: UInt16.random(in: 0...maxCounter, using: &generator),
            node: UInt64.random(in: 0...nodeMask, using: &generator))
    }

    static let maxCounter: UInt16 = 0xFFF
    /// The width of a node: 62 bits (rand_b).
    static let nodeMask: UInt64 = (1 << 62) - 1

    /// The parts of a UUIDv7 of the RFC's variant: milliseconds, rand_a (12 bits), rand_b (62 bits); nil for any other id.
    static func parts(of id: UUID) -> (milliseconds: UInt64, counter: UInt16, node: UInt64)? {
        guard id.uuid.6 >> 4 == 7, id.uuid.8 >> 6 == 2 else { return nil }
        return withUnsafeBytes(of: id.uuid) { b in
            let high = b.loadBigEndianUInt64(at: 0)
            return (high >> 16, UInt16(truncatingIfNeeded: high) & maxCounter, b.loadBigEndianUInt64(at: 8) & nodeMask)
        }
    }

    /// The UUIDv7 of these parts (each masked to its width).
    static func layout(milliseconds: UInt64, counter: UInt16, node: UInt64) -> UUID {
        func byte(_ v: UInt64, _ shift: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: v >> shift) }
        let a = UInt64(counter & maxCounter) | 0x7000
        let b = (node & nodeMask) | (1 << 63)
        return UUID(
            uuid: (
                byte(milliseconds, 40), byte(milliseconds, 32), byte(milliseconds, 24), byte(milliseconds, 16),
                byte(milliseconds, 8), byte(milliseconds, 0), byte(a, 8), byte(a, 0),
                byte(b, 56), byte(b, 48), byte(b, 40), byte(b, 32), byte(b, 24), byte(b, 16), byte(b, 8), byte(b, 0)
            ))
    }
}
