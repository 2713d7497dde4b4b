extension Settings {
    /// `umask` as a file mode creation mask (`027`, `0o027`), or nil when unset or not an octal
    /// mask of at most `777`.
    public var fileModeMask: UInt32? {
        guard let text = umask else { return nil }
        return Self.parseMask(text)
    }

    static func parseMask(_ text: String) -> UInt32? {
        guard let mask = UInt32(text.hasPrefix("0o") ? String(text.dropFirst(2)) : text, radix: 8), mask <= 0o777 else {
            return nil
        }
        return mask
    }
}
