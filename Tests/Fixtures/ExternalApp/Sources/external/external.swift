import AppProtocol

struct Shop: AsyncApplication {
    func respond(to request: Request) async throws -> Response {
        .text("Hello from a separate package: \(request.method) \(request.path)")
    }
}

@_cdecl("application")
public func application() -> UnsafeRawPointer {
    export(Shop())
}
