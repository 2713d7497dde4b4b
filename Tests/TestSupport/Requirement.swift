import Glibc
import Platform

/// Tools some tests drive the server with besides the Swift toolchain (`python3` with the
/// `websockets` package, `openssl`, `curl`, `promtool`, `systemd-socket-activate`). A test whose
/// tool is missing is skipped with the reason, so `swift test` passes on a machine with only the
/// toolchain; `.ci/run` installs them all and sets `ARBITER_TEST_REQUIRE_TOOLS=1`, which runs those
/// tests regardless (a missing tool then fails them instead of skipping).
public enum Requirement {
    static var required: Bool { getenv("ARBITER_TEST_REQUIRE_TOOLS").map { String(cString: $0) == "1" } ?? false }

    /// Every command is on the PATH (or required).
    public static func commands(_ names: String...) -> Bool {
        required || names.allSatisfy { name in
            let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
            return path.split(separator: ":").contains { access("\($0)/\(name)", X_OK) == 0 }
        }
    }

    /// `python3` can import the module (or required).
    public static func pythonModule(_ name: String) -> Bool {
        if required { return true }
        guard commands("python3") else { return false }
        guard let child = try? ChildProcess(["/usr/bin/env", "python3", "-c", "import \(name)"]) else { return false }
        return child.wait(timeout: 30) == 0
    }

    /// OpenSSL 3's library can be loaded (or required).
    public static var libssl: Bool {
        if required { return true }
        guard let handle = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL) else { return false }
        dlclose(handle)
        return true
    }
}
