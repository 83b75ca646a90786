/// Text from the log, a model or a server made safe to print on a terminal: control characters (but line breaks and
/// tabs) and the bidirectional overrides that reorder what a reader sees are shown as escapes (`\x1b`, `\u{202e}`), so a
/// thread id, a message or a tool result cannot move the cursor, clear the screen or rewrite what was printed before.
extension StringProtocol {
    var terminalSafe: String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for scalar in unicodeScalars {
            switch scalar.value {
            case 0x0A, 0x09: out.unicodeScalars.append(scalar)
            case 0x00..<0x20, 0x7F..<0xA0: out += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Like `terminalSafe`, with line breaks and tabs escaped too: for one cell of a table or one field of a line.
    var terminalSafeLine: String {
        terminalSafe.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
