import CLMDB
import Foundation
import Synchronization
import Testing
@testable import EventStore

/// Storage faults told apart: a full device or log is an error of the append that met it, and writing goes on once
/// space is freed (no reopening); an I/O error stops writing, says so once, and the store reports why. Faults are
/// injected at the commit (`Configuration.commitFault`); one test fills a real small file system.
@Suite(.serialized) struct StorageFaultTests {
    /// The next commits fail with these codes, one each.
    final class Faults: Sendable {
        let queue = Mutex<[Int32]>([])
        func next() -> Int32? { queue.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
        func add(_ codes: Int32...) { queue.withLock { $0 += codes } }
    }

    @Test func aFullDiskFailsItsAppendAndWritingGoesOnWhenSpaceReturns() async throws {
        let dir = TemporaryDirectory()
        let faults = Faults()
        let store = try EventStore.openForTest(dir.path) { $0.commitFault = { faults.next() } }
        var rng = SplitMix64(seed: 11)
        try await store.append([randomEvent(&rng)], to: "s")
        faults.add(ENOSPC)
        await #expect(throws: EventStoreError.self) { try await store.append([randomEvent(&rng)], to: "s") }
        do { try await store.append([randomEvent(&rng)], to: "s") } catch {
            Issue.record("the append after space returned failed: \(error)")
        }
        faults.add(ENOSPC)
        do { try await store.append([randomEvent(&rng)], to: "s"); Issue.record("no fault") } catch {
            #expect(error.code == .diskFull, "\(error)")
            #expect(error.message.contains("free disk space"), "\(error)")
        }
        #expect(store.writeRefusal == nil)
        #expect(store.lastSeq == 2)
        #expect(try store.verify().isIntact)
        await store.close()
    }

    @Test func aFullLogSaysWhichSettingRaisesIt() async throws {
        let dir = TemporaryDirectory()
        let faults = Faults()
        let store = try EventStore.openForTest(dir.path) {
            $0.limits.maxMapSizeBytes = 128 << 20
            $0.commitFault = { faults.next() }
        }
        var rng = SplitMix64(seed: 12)
        faults.add(MDB_MAP_FULL, MDB_MAP_FULL)  // the map grows once (64 → 128 MiB), then is at its maximum
        do { try await store.append([randomEvent(&rng)], to: "s"); Issue.record("no fault") } catch {
            #expect(error.code == .mapFull, "\(error)")
            #expect(error.message.contains("--max-log-size"), "\(error)")
        }
        try await store.append([randomEvent(&rng)], to: "s")
        #expect(store.writeRefusal == nil)
        #expect(store.lastSeq == 1)
        await store.close()
    }

    @Test func anIOErrorStopsWritingOnceAndSaysWhy() async throws {
        let dir = TemporaryDirectory()
        let faults = Faults()
        let reported = Mutex<[EventStoreError]>([])
        let store = try EventStore.openForTest(dir.path) {
            $0.commitFault = { faults.next() }
            $0.onWritesRefused = { error in reported.withLock { $0.append(error) } }
        }
        var rng = SplitMix64(seed: 13)
        try await store.append([randomEvent(&rng)], to: "s")
        faults.add(EIO)
        await #expect(throws: EventStoreError.self) { try await store.append([randomEvent(&rng)], to: "s") }
        for _ in 0..<3 {
            do { try await store.append([randomEvent(&rng)], to: "s"); Issue.record("wrote after an I/O error") } catch
            {
                #expect(error.code == .closed, "\(error)")
                #expect(error.message.contains("refuses writes after a fatal error"), "\(error)")
            }
        }
        #expect(store.writeRefusal?.code == .closed)
        #expect(reported.withLock { $0.map(\.systemCode) } == [EIO], "reported once")
        #expect(try store.read(from: 1, maxCount: 10).count == 1, "reads go on")
        await store.close()
    }

    /// A real file system that runs out of space (tmpfs of 4 MiB, mounted by the test as root): the append that meets
    /// the end fails as a full disk, not as a fatal error, and once a file is deleted the same store writes again.
    @Test func aRealSmallFileSystemFillsAndWritingResumesWhenSpaceIsFreed() async throws {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent(
            "logbook-smallfs-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint]
        mount.standardError = FileHandle.nullDevice
        guard (try? mount.run()) != nil,
            {
                mount.waitUntilExit(); return mount.terminationStatus == 0
            }()
        else {
            print(
                "StorageFaultTests: this environment cannot mount a tmpfs (not root?); the real-file-system case did not run"
            )
            return
        }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [mountPoint]
            try? umount.run()
            umount.waitUntilExit()
        }
        let filler = mountPoint + "/filler"
        FileManager.default.createFile(atPath: filler, contents: Data(repeating: 7, count: 1 << 20))
        let store = try EventStore.openForTest(mountPoint + "/log") { $0.limits.initialMapSizeBytes = 16 << 20 }
        var full: EventStoreError?
        var appended = 0
        let payload = Data((0..<60_000).map { _ in UInt8.random(in: 0...255) })  // incompressible
        for i in 0..<200 where full == nil {
            do {
                try await store.append([ProposedEvent(type: "blob", payload: payload)], to: try StreamID("s\(i % 3)"))
                appended += 1
            } catch { full = error }
        }
        #expect(full?.code == .diskFull, "\(String(describing: full))")
        #expect(store.writeRefusal == nil, "a full disk is not fatal")
        try FileManager.default.removeItem(atPath: filler)
        try await store.append([ProposedEvent(type: "blob", payload: Data("after".utf8))], to: "s0")
        #expect(store.lastSeq.rawValue == UInt64(appended + 1))
        #expect(try store.verify().isIntact)
        print(
            "StorageFaultTests: a 4 MiB tmpfs took \(appended) events of 60 KB before the disk was full (\(full?.systemCode.map(String.init) ?? "-"))"
        )
        await store.close()
    }
}
