import Foundation

/// The figures of the C reference benchmark that `bench store` is measured against, read from its markdown output
/// (`../shared/bench/limits/run.sh DIR N > limits.md`).
struct ReferenceFigures {
    /// End to end: zstd L3 + dictionary compress + durable append, 1000 events per transaction (events/s).
    var endToEndEventsPerSecond: Double?
    /// The same with the stream index in the transaction (events/s).
    var endToEndIndexedEventsPerSecond: Double?
    /// Full scan with decompression, warm page cache (events/s).
    var scanEventsPerSecond: Double?
    /// Random point read + decompress, one read transaction per lookup (lookups/s).
    var pointReadsPerSecond: Double?
    /// Bytes per event in the data file: dictionary-compressed records, without and with the stream index.
    var bytesPerEvent: Double?
    var bytesPerEventIndexed: Double?

    /// Reads the figures from the benchmark's markdown tables; missing rows stay nil.
    init(markdown: String) {
        for line in markdown.split(separator: "\n") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count > 5 else { continue }
            func number(_ i: Int) -> Double? { cells.indices.contains(i) ? Double(cells[i]) : nil }
            switch (cells[1], cells[2]) {
            case ("compress+append", let config) where config.hasPrefix("zstd L3"): endToEndEventsPerSecond = number(5)
            case ("compress+append+index", _): endToEndIndexedEventsPerSecond = number(5)
            case ("scan", let config) where config.hasPrefix("zstd") && config.contains("warm"):
                scanEventsPerSecond = number(5)
            case ("point read", let config) where config.contains("reset/renew"): pointReadsPerSecond = number(5)
            case ("zstd L3 + 64 KiB dict", _): bytesPerEvent = number(3)
            case ("zstd L3 + dict + by_stream index", _): bytesPerEventIndexed = number(3)
            default: break
            }
        }
    }
}
