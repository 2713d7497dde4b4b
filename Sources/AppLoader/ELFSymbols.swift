import Glibc
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

    /// Why an ELF64 file cannot be mapped whole, if so: a loadable segment (or the program header
    /// table) reaches past the end of the file, as in a copy cut short. The system loader maps such
    /// a file anyway and the process then dies of SIGBUS touching the missing pages; this is asked
    /// before `dlopen`. Nil for a whole file, and for anything that is not ELF64 (`dlopen` says why).
    static func truncation(path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Descriptor.close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        let fileSize = Int(status.st_size)
        func read(_ count: Int, at offset: Int) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return n == count ? bytes : nil
        }
        guard let header = read(64, at: 0), header[0] == 0x7F, header[1] == 0x45, header[2] == 0x4C, header[3] == 0x46,
              header[4] == 2, header[5] == 1  // ELF64, little-endian
        else { return nil }
        func value(_ bytes: [UInt8], _ offset: Int, _ size: Int) -> Int {
            (0..<size).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        let tableOffset = value(header, 0x20, 8)
        let entrySize = value(header, 0x36, 2)
        let count = value(header, 0x38, 2)
        guard entrySize >= 56 else { return nil }
        guard tableOffset + count * entrySize <= fileSize, let table = read(count * entrySize, at: tableOffset) else {
            return "truncated: the program header table ends past the end of the file (\(fileSize) bytes)"
        }
        for index in 0..<count {
            let entry = index * entrySize
            guard value(table, entry, 4) == 1 else { continue }  // PT_LOAD
            let offset = value(table, entry + 0x08, 8)
            let size = value(table, entry + 0x20, 8)
            if offset + size > fileSize {
                return "truncated: a loadable segment ends at byte \(offset + size), past the end of the file (\(fileSize) bytes); copy or build it again"
            }
        }
        return nil
    }
}
