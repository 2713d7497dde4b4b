import AppLoader
import Testing

@Suite struct AppSpecTests {
    @Test func moduleAndSymbol() throws {
        let spec = try AppSpec(parsing: "hello:application")
        #expect(spec.module == "hello")
        #expect(spec.symbol == "application")
        #expect(spec.path == nil)
        #expect(spec.libraryName == "libhello.so")
    }

    @Test func defaultSymbol() throws {
        #expect(try AppSpec(parsing: "hello").symbol == "application")
    }

    @Test func explicitPath() throws {
        let spec = try AppSpec(parsing: "./build/libshop.so:entry")
        #expect(spec.path == "./build/libshop.so")
        #expect(spec.module == "shop")
        #expect(spec.symbol == "entry")
    }

    @Test func searchOrder() throws {
        let spec = try AppSpec(parsing: "hello:application")
        #expect(Loader.candidates(for: spec, directory: "/srv", appPaths: ["/opt/apps", "rel"]) == [
            "/opt/apps/libhello.so", "/srv/rel/libhello.so",
            "/srv/libhello.so", "/srv/.build/release/libhello.so", "/srv/.build/debug/libhello.so",
        ])
    }

    @Test func invalidSpecs() {
        #expect(throws: AppSpec.Invalid.self) { try AppSpec(parsing: "hello:") }
        #expect(throws: AppSpec.Invalid.self) { try AppSpec(parsing: ":app") }
        #expect(throws: AppSpec.Invalid.self) { try AppSpec(parsing: "hel lo:app") }
        #expect(throws: AppSpec.Invalid.self) { try AppSpec(parsing: "hello:app-x") }
    }
}

@Suite struct LoadErrorTests {
    /// A `@_cdecl` function that is not `public` is not exported: the message says so.
    @Test func aLibraryWithoutEntryPointsIsToldToMakeItPublic() {
        let text = LoadError.missingSymbol(symbol: "application", path: "/x/libshop.so", exported: []).description
        #expect(text.contains("it exports no C functions"))
        #expect(text.contains("the function must be `public`"))
        #expect(text.contains("@_cdecl(\"application\") public func application()"))
    }
}
