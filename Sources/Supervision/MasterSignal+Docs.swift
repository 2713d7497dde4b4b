/// The signal table rendered for people: the README's Markdown table and `arbiter --help`.
extension MasterSignal {
    /// The rows of the README table; signals with the same action and text share a row.
    static var rows: [(names: [String], doc: String)] {
        var rows: [(names: [String], action: Action, doc: String)] = []
        for signal in all {
            if let last = rows.last, last.action == signal.action, last.doc == signal.doc {
                rows[rows.count - 1].names.append(signal.name)
            } else {
                rows.append(([signal.name], signal.action, signal.doc))
            }
        }
        return rows.map { ($0.names, $0.doc) }
    }

    /// The README's `| signal to the master | effect |` table, header included, one line per row.
    public static func markdownTable() -> String {
        var out = "| signal to the master | effect |\n| --- | --- |\n"
        for row in rows {
            out += "| \(row.names.map { "`\($0)`" }.joined(separator: ", ")) | \(row.doc) |\n"
        }
        return out
    }

    /// The signal section of `arbiter --help`, wrapped to `width` columns.
    public static func usage(width: Int = 100) -> String {
        var out = "Signals to the master (kill -SIGNAL PID):\n"
        let indent = 14
        for row in rows {
            let names = "  " + row.names.joined(separator: ", ")
            let text = String(row.doc.filter { $0 != "`" })
            var line = names + String(repeating: " ", count: max(1, indent - names.count))
            var column = line.count
            for word in text.split(separator: " ") {
                if column + word.count + 1 > width, column > indent {
                    out += line + "\n"
                    line = String(repeating: " ", count: indent)
                    column = indent
                } else if column > indent {
                    line += " "
                    column += 1
                }
                line += word
                column += word.count
            }
            out += line + "\n"
        }
        return out
    }
}
