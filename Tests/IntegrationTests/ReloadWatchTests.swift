import Glibc
import Platform
import Testing
import TestSupport

extension Integration {
    /// `--reload`: rebuilding the library (or touching an extra file) reloads as HUP does.
    @Suite struct ReloadOnChange {
        @Test func aRebuiltLibraryAndAnExtraFileReloadTheWorkers() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try dir.copy(Products.directory + "/libhello.so", to: "libapp.so")
            try dir.write("extra.txt", "one")
            try withServer(["app:application", "--chdir", dir.path, "--reload", "--reload-extra-file", dir.file("extra.txt"), "-w", "2"]) { server in
                try server.waitForLog("Watching for changes (--reload, for development only): ")
                #expect(server.log.contains(dir.file("libapp.so")))
                #expect(try httpGet(port: server.port, "/block?seconds=0").status == 200)

                // A new library moved into place (the synchronous example has no /block).
                try dir.copy(Products.directory + "/libhellosync.so", to: "libapp.so")
                try server.waitForLog("Reloading: \(dir.file("libapp.so")) changed (--reload)")
                try server.waitForLog("Reload complete: generation 1 serving with 2 worker(s)")
                try waitUntil { try httpGet(port: server.port, "/block?seconds=0").status == 404 }

                // Written in place, as a linker may do.
                let bytes = try Files.read(Products.directory + "/libhello.so")
                let fd = try syscall("open") { open(dir.file("libapp.so"), O_WRONLY | O_TRUNC | O_CLOEXEC) }
                try bytes.withUnsafeBytes { try Descriptor.writeAll(fd, $0) }
                Descriptor.close(fd)
                try server.waitForLog("Reload complete: generation 2 serving with 2 worker(s)")
                try waitUntil { try httpGet(port: server.port, "/block?seconds=0").status == 200 }

                try dir.write("extra.txt", "two")
                try server.waitForLog("Reloading: \(dir.file("extra.txt")) changed (--reload)")
                try server.waitForLog("Reload complete: generation 3 serving with 2 worker(s)")
                // A file nobody watches changes nothing (it would be named with the next one).
                try dir.write("other.txt", "x")
                try dir.write("extra.txt", "three")
                try server.waitForLog("Reload complete: generation 4 serving with 2 worker(s)")
                #expect(!server.log.contains("other.txt"))
                #expect(server.log.occurrences(of: "changed (--reload)") == 4)
            }
        }
    }
}
