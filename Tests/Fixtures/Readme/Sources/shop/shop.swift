// Sources/shop/shop.swift
import AppProtocol

struct Item: Codable, Sendable {
    var name: String
    var price: Double
}

/// This worker's items. Each worker process has its own memory: see "State lives per worker".
actor Catalog {
    private var items: [Int: Item] = [:]

    func add(_ item: Item) -> Int {
        let id = items.count + 1
        items[id] = item
        return id
    }

    func item(_ id: Int) -> Item? { items[id] }
    func all() -> [(id: Int, item: Item)] { items.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
}

/// Logs each request with its status; asynchronous, so it never holds a thread.
struct RequestLog: AsyncMiddleware {
    func respond(to request: Request, next: (Request) async throws -> Response) async throws -> Response {
        let response = try await next(request)
        Runtime.log(.info, "\(request.method) \(request.path) -> \(response.status.code)")
        return response
    }
}

func makeRouter() -> Router {
    let catalog = Catalog()
    let router = Router()
    router.get("/") { _ in .text("Hello") }

    let items = router.group("/items").using(RequestLog())
    items.post { request in
        let item = try await request.decode(Item.self)  // 400, 413 or 415 when the body is wrong
        guard !item.name.isEmpty, item.price >= 0 else {
            throw HTTPError(.unprocessableContent, message: "name must not be empty, price not negative")
        }
        let id = await catalog.add(item)
        var response = try Response.json(item, status: .created)
        response.headers["Location"] = "/items/\(id)"
        return response
    }
    items.get("/:id") { request in
        let id = try request.parameters.require("id", as: Int.self)  // 400 when not a number
        guard let item = await catalog.item(id) else { throw HTTPError(.notFound, message: "no item \(id)") }
        return try .json(item)
    }
    items.get("/export") { _ in  // a literal segment wins over `:id`
        let all = await catalog.all()
        return Response(headers: ["Content-Type": "application/x-ndjson"], body: .stream { writer in
            for entry in all { try await writer.writeJSONLine(entry.item) }
        })
    }
    return router
}

@_cdecl("application")  // must be public: the server finds it by this C name
public func application() -> UnsafeRawPointer { export(makeRouter()) }
