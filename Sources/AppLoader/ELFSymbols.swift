import Platform

/// Reads the exported function names of an ELF64 shared library from its `.dynsym` table, to say
/// which entry points a library does offer when the requested one is missing.
enum ELFSymbols {
    static func exportedFunctions(path: String) -> [String] {
        guard let bytes = try? Files.read(path), bytes.count > 64,
              bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46, bytes[4] == 2
        else { return [] }
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        func u64(_ o: Int) -> Int { u32(o) | u32(o + 4) << 32 }
        let sectionOffset = u64(0x28)
        let sectionSize = u16(0x3A)
        let sectionCount = u16(0x3C)
        guard sectionSize >= 64, sectionOffset + sectionCount * sectionSize <= bytes.count else { return [] }
        var names: [String] = []
        for index in 0..<sectionCount {
            let header = sectionOffset + index * sectionSize
            guard u32(header + 4) == 11 else { continue }  // SHT_DYNSYM
            let symbols = u64(header + 0x18)
            let size = u64(header + 0x20)
            let entry = max(24, u64(header + 0x38))
            let stringsHeader = sectionOffset + u32(header + 0x28) * sectionSize
            guard stringsHeader + 64 <= bytes.count else { continue }
            let strings = u64(stringsHeader + 0x18)
            var offset = symbols
            while offset + 24 <= symbols + size, offset + 24 <= bytes.count {
                let info = Int(bytes[offset + 4])
                let sectionIndex = u16(offset + 6)
                let type = info & 0xF
                let binding = info >> 4
                if type == 2, binding == 1 || binding == 2, sectionIndex != 0 {
                    var end = strings + u32(offset)
                    let start = end
                    while end < bytes.count, bytes[end] != 0 { end += 1 }
                    let name = String(decoding: bytes[start..<end], as: UTF8.self)
                    if isCName(name) { names.append(name) }
                }
                offset += entry
            }
        }
        return names.sorted()
    }

    /// Swift-mangled (`$s…`) and reserved (`_…`) names are not entry points.
    private static func isCName(_ name: String) -> Bool {
        guard let first = name.first, first.isLetter else { return false }
        return name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && !name.hasPrefix("swift_")
    }
}
