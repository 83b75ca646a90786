import EventStore
import Foundation
import PostgresLog

extension StoreBenchmark.Results {
    /// Prints the figures, and the ratios to the C reference where it is given.
    func print(against reference: ReferenceFigures?) {
        func p(_ sorted: [Duration], _ q: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))].milliseconds
        }
        Swift.print("## logbook bench store")
        Swift.print("")
        Swift.print(
            "events: \(scanEvents), mean payload \(f(generatedMeanBytes, 1)) B (the C reference workload, seed 0x5eed0001); \(durability == .durable ? "durable (each group commit flushed to the device before it is acknowledged)" : "relaxed (no fsync)")\(compressionLevel.map { "; zstd level \($0)" } ?? "")"
        )
        Swift.print("")
        Swift.print("| measurement | events | events/s | events per CPU-s | latency p50 ms | p99 ms |")
        Swift.print("|---|---:|---:|---:|---:|---:|")
        for a in appends {
            Swift.print(
                "| \(durability == .durable ? "durable" : "relaxed") append, \(a.appenders) concurrent appender\(a.appenders == 1 ? "" : "s") | \(a.events) | \(f(a.eventsPerSecond)) | \(f(a.eventsPerCPUSecond)) | \(f(p(a.latencies, 0.5), 2)) | \(f(p(a.latencies, 0.99), 2)) |"
            )
        }
        let scanRate = Double(scanEvents) / scanSeconds
        let viewRate = Double(scanEvents) / viewSeconds
        Swift.print("| sequential read + decompress, scan (views) | \(scanEvents) | \(f(viewRate)) | | | |")
        Swift.print(
            "| sequential read + decompress, read (RecordedEvent copies) | \(scanEvents) | \(f(scanRate)) | | | |")
        Swift.print(
            "| random point read + decompress | \(pointReads) | \(f(Double(pointReads) / pointReadSeconds)) | | \(f(pointReadSeconds / Double(pointReads) * 1000, 4)) | |"
        )
        Swift.print("")
        for a in appends {
            Swift.print(
                "group commit, \(a.appenders) appender\(a.appenders == 1 ? "" : "s"): \(a.commits) commits, \(f(Double(a.events) / Double(max(a.commits, 1)), 1)) events each; writer busy \(f(a.writeTime.milliseconds / Double(max(a.commits, 1)), 2)) ms filling + \(f(a.commitTime.milliseconds / Double(max(a.commits, 1)), 2)) ms committing per commit (\(f(a.writeTime.milliseconds * 1000 / Double(max(a.events, 1)), 1)) µs filling per event)"
            )
        }
        Swift.print("")
        Swift.print(
            "sequential read rate: \(f(Double(scanRawBytes) / viewSeconds / 1e6, 1)) MB/s of payload (scan), \(f(Double(scanRawBytes) / scanSeconds / 1e6, 1)) MB/s (read)"
        )
        if let s = statistics {
            let recordPages = Double(s.pagesByDatabase["events"] ?? 0) * 4096 / Double(max(s.events, 1))
            let streamIndex = Double(s.pagesByDatabase["stream_index"] ?? 0) * 4096 / Double(max(s.events, 1))
            let ids = Double(s.pagesByDatabase["event_ids"] ?? 0) * 4096 / Double(max(s.events, 1))
            Swift.print(
                "bytes on disk per event: \(f(s.usedBytesPerEvent, 1)) in all (records \(f(recordPages, 1)), stream index \(f(streamIndex, 1)), event-id index \(f(ids, 1)))"
            )
            Swift.print(
                "compression ratio (payload raw / stored): \(f(s.compressionRatio, 2)); dictionary \(s.currentDictionary.map { "#\($0.id), \($0.sizeBytes) B, from seq \($0.storedAfterSeq)" } ?? "none")"
            )
        }
        guard let reference else { return }
        Swift.print("")
        Swift.print("## against the C reference (same machine, same events)")
        Swift.print("")
        Swift.print("| target | logbook | C reference | ratio | goal |")
        Swift.print("|---|---:|---:|---:|---|")
        if let c = reference.endToEndEventsPerSecond, let a = appends.last {
            Swift.print(
                "| durable append, 256 appenders vs C compress + append 1000/txn | \(f(a.eventsPerSecond)) | \(f(c)) | \(f(a.eventsPerSecond / c, 2)) | ≥ 0.70 |"
            )
        }
        if let c = reference.endToEndIndexedEventsPerSecond, let a = appends.last {
            Swift.print(
                "| durable append, 256 appenders vs C with stream index | \(f(a.eventsPerSecond)) | \(f(c)) | \(f(a.eventsPerSecond / c, 2)) | (context) |"
            )
        }
        if let c = reference.scanEventsPerSecond {
            Swift.print(
                "| sequential read + decompress (scan) vs C scan | \(f(viewRate)) | \(f(c)) | \(f(viewRate / c, 2)) | ≥ 0.50 |"
            )
            Swift.print(
                "| sequential read + decompress (read) vs C scan | \(f(scanRate)) | \(f(c)) | \(f(scanRate / c, 2)) | (context) |"
            )
        }
        if let c = reference.pointReadsPerSecond {
            let rate = Double(pointReads) / pointReadSeconds
            Swift.print(
                "| random point read vs C (txn per lookup) | \(f(rate)) | \(f(c)) | \(f(rate / c, 2)) | (context) |")
        }
        if let c = reference.bytesPerEvent, let s = statistics {
            Swift.print(
                "| bytes on disk per event vs C dictionary-compressed | \(f(s.usedBytesPerEvent, 1)) | \(f(c, 1)) | \(f(s.usedBytesPerEvent / c, 2)) | ≤ 1.10 |"
            )
        }
        if let c = reference.bytesPerEventIndexed, let s = statistics {
            Swift.print(
                "| bytes on disk per event vs C with stream index | \(f(s.usedBytesPerEvent, 1)) | \(f(c, 1)) | \(f(s.usedBytesPerEvent / c, 2)) | (context) |"
            )
        }
    }
}

extension StoreBenchmark.Results {
    /// The shared log's figures: appends next to pgbench's durable inserts on the same database, and its size.
    func printShared(_ statistics: SharedLogStatistics, pgbench: [PgBench.Figures]) {
        Swift.print("")
        Swift.print("## the shared log on PostgreSQL, next to pgbench on the same database")
        Swift.print("")
        Swift.print(
            "Appends above went through PostgreSQL (group commit per process, one transaction per group); reads are of this process's copy. pgbench: one INSERT of a \(f(generatedMeanBytes, 0))-byte row per transaction, each commit durable."
        )
        Swift.print("")
        Swift.print(
            "| concurrency | logbook appends/s | pgbench inserts/s | ratio | logbook p50 ms | pgbench mean ms | goal |")
        Swift.print("|---:|---:|---:|---:|---:|---:|---|")
        for (a, b) in zip(appends, pgbench) {
            let p50 = a.latencies.isEmpty ? 0 : a.latencies[a.latencies.count / 2].milliseconds
            Swift.print(
                "| \(a.appenders) | \(f(a.eventsPerSecond)) | \(f(b.transactionsPerSecond)) | \(f(a.eventsPerSecond / b.transactionsPerSecond, 2)) | \(f(p50, 2)) | \(f(b.latencyMilliseconds, 2)) | \(a.appenders == 256 ? "≥ 0.50" : "(context)") |"
            )
        }
        Swift.print("")
        Swift.print(
            "on PostgreSQL: \(statistics.events) events, \(f(Double(statistics.totalBytes) / 1e6, 1)) MB in the log's tables (\(f(Double(statistics.totalBytes) / Double(max(statistics.events, 1)), 1)) bytes per event; payloads \(f(Double(statistics.rawPayloadBytes) / Double(max(statistics.events, 1)), 1)) bytes per event as appended, \(f(Double(statistics.payloadBytes) / Double(max(statistics.events, 1)), 1)) stored)"
        )
    }
}
