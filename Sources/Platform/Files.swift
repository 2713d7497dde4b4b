import CArbiter
import Glibc

/// Small file helpers over Glibc (the master avoids Foundation's threads and run loops).
public enum Files {
    public static func read(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try syscall("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { Descriptor.close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = try syscall("read(\(path))") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// A file that exists only in memory (a memfd, closed on exec) holding `contents`: while it is
    /// open, `/proc/self/fd/N` reads it like any file. The caller closes it.
    public static func inMemory(_ name: String, contents: [UInt8]) throws(SystemError) -> Int32 {
        let fd = try syscall("memfd_create") { arbiter_memfd(name) }
        var failure: SystemError?
        contents.withUnsafeBytes { bytes in
            do throws(SystemError) { try Descriptor.writeAll(fd, bytes) } catch { failure = error }
        }
        if let failure {
            Descriptor.close(fd)
            throw failure
        }
        return fd
    }

    public static func readString(_ path: String) throws(SystemError) -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(nulTerminated: buffer)
    }

    /// `path` made absolute against `base`, without resolving links.
    public static func absolute(_ path: String, base: String = currentDirectory()) -> String {
        path.hasPrefix("/") ? path : (base.hasSuffix("/") ? base + path : base + "/" + path)
    }

    /// Opens a file for appending (log files), creating it 0644.
    public static func openForAppend(_ path: String) throws(SystemError) -> Int32 {
        try syscall("open(\(path))") { open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644) }
    }
}

/// The process environment, read through Glibc.
public enum Environment {
    public static func get(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// All variables as `KEY=VALUE` strings.
    public static func all() -> [String] {
        var out: [String] = []
        var p = environ
        while let entry = p.pointee {
            out.append(String(cString: entry))
            p += 1
        }
        return out
    }
}
