import ArbiterABI
import Glibc
import Platform

/// Why an application could not be loaded; every case says exactly what was looked for.
public enum LoadError: Error, CustomStringConvertible, Sendable {
    case invalidSpec(String)
    case notFound(spec: String, searched: [String])
    case openFailed(path: String, reason: String)
    case missingSymbol(symbol: String, path: String, exported: [String])
    case notAnEntryPoint(symbol: String, path: String)
    case abiMismatch(symbol: String, path: String, found: UInt32, expected: UInt32)

    public var description: String {
        switch self {
        case .invalidSpec(let reason):
            return "invalid application: \(reason)"
        case .notFound(let spec, let searched):
            return "application '\(spec)' not found; searched:\n" + searched.map { "  \($0)" }.joined(separator: "\n")
                + "\n  (build it first, e.g. `swift build -c release`, or pass --app-path DIR or a path to the .so)"
        case .openFailed(let path, let reason):
            return "cannot load \(path): \(reason)"
        case .missingSymbol(let symbol, let path, let exported):
            let offered = exported.isEmpty ? "it exports no C functions" : "it exports: \(exported.joined(separator: ", "))"
            return "\(path) has no entry point '\(symbol)'; \(offered). Export one with "
                + "`@_cdecl(\"\(symbol)\") public func \(symbol)() -> UnsafeRawPointer { export(MyApp()) }`: "
                + "the function must be `public`, or the library does not export it"
        case .notAnEntryPoint(let symbol, let path):
            return "'\(symbol)' in \(path) is not an arbiter entry point (its table does not start with the arbiter magic number)"
        case .abiMismatch(let symbol, let path, let found, let expected):
            return "'\(symbol)' in \(path) was built for arbiter ABI version \(found), but this arbiter speaks version \(expected); rebuild the application against a matching AppProtocol"
        }
    }
}

/// A loaded, validated application table.
public struct LoadedApp: @unchecked Sendable {
    public let table: UnsafePointer<arbiter_app>
    public let path: String
    public let spec: AppSpec

    public var name: String { table.pointee.name.map { String(cString: $0) } ?? spec.module }
    /// The application is synchronous: `handle` runs the whole request on the calling thread.
    public var isBlocking: Bool { table.pointee.flags & UInt32(ARBITER_APP_BLOCKING) != 0 }
    /// Synchronous parts named by the application's chain.
    public var synchronousParts: [String] {
        guard let parts = table.pointee.synchronous_parts else { return [] }
        return String(cString: parts).split(separator: "\n").map(String.init)
    }
}

/// Finds, opens and validates `MODULE:SYMBOL`.
public enum Loader {
    /// The places searched for `spec`, in order: the directories given with `--app-path` first
    /// (as Gunicorn's `--pythonpath` comes before the defaults), then the working directory and its
    /// `.build/release` and `.build/debug`.
    public static func candidates(for spec: AppSpec, directory: String, appPaths: [String]) -> [String] {
        if let path = spec.path { return [Files.absolute(path, base: directory)] }
        let file = spec.libraryName
        var out = appPaths.map { Files.absolute($0, base: directory) + "/\(file)" }
        out += [directory, directory + "/.build/release", directory + "/.build/debug"].map { "\($0)/\(file)" }
        return out
    }

    public static func load(_ text: String, directory: String = Files.currentDirectory(), appPaths: [String] = []) throws(LoadError) -> LoadedApp {
        let spec: AppSpec
        do { spec = try AppSpec(parsing: text) } catch { throw .invalidSpec(error.description) }
        let candidates = candidates(for: spec, directory: directory, appPaths: appPaths)
        var searched = candidates
        var handle: UnsafeMutableRawPointer?
        var path = ""
        for candidate in candidates where Files.exists(candidate) {
            path = candidate
            if let truncation = ELFSymbols.truncation(path: candidate) { throw .openFailed(path: candidate, reason: truncation) }
            handle = dlopen(candidate, RTLD_NOW | RTLD_LOCAL)
            if handle == nil { throw .openFailed(path: candidate, reason: dlerrorText()) }
            break
        }
        if handle == nil, spec.path == nil {
            // Last, the system loader's own search (LD_LIBRARY_PATH, the ld.so cache).
            searched.append("\(spec.libraryName) via the system loader (LD_LIBRARY_PATH, /etc/ld.so.cache)")
            handle = dlopen(spec.libraryName, RTLD_NOW | RTLD_LOCAL)
            path = spec.libraryName
        }
        guard let handle else { throw .notFound(spec: text, searched: searched) }
        guard let symbol = dlsym(handle, spec.symbol) else {
            throw .missingSymbol(symbol: spec.symbol, path: path, exported: ELFSymbols.exportedFunctions(path: path))
        }
        let entry = unsafeBitCast(symbol, to: arbiter_entry_point.self)
        guard let table = entry() else { throw .notAnEntryPoint(symbol: spec.symbol, path: path) }
        guard table.pointee.magic == UInt32(ARBITER_ABI_MAGIC) else {
            throw .notAnEntryPoint(symbol: spec.symbol, path: path)
        }
        guard table.pointee.abi_version == UInt32(ARBITER_ABI_VERSION),
              table.pointee.struct_size >= MemoryLayout<arbiter_app>.size
        else {
            throw .abiMismatch(symbol: spec.symbol, path: path, found: table.pointee.abi_version, expected: UInt32(ARBITER_ABI_VERSION))
        }
        return LoadedApp(table: table, path: path, spec: spec)
    }

    private static func dlerrorText() -> String {
        dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
    }
}
