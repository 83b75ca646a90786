import Foundation

/// A figure with `digits` decimals, for the benchmark reports.
func f(_ v: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", v) }
