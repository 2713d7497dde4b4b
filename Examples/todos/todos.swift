// A small JSON API to copy from: `arbiter todos:application -k async`.
//
//   curl -i -X POST localhost:8000/todos -H 'Content-Type: application/json' -d '{"title": "write docs"}'
//   curl -i localhost:8000/todos            curl -i localhost:8000/todos/1
//   curl -i -X PATCH localhost:8000/todos/1 -H 'Content-Type: application/json' -d '{"done": true}'
//   curl -i -X DELETE localhost:8000/todos/1
//   curl -N localhost:8000/todos/export     (a stream of NDJSON lines)
//
// The store is this worker's memory: with several workers each has its own (keep shared state in a
// database), and a restart forgets it.
import AppProtocol

struct Todo: Codable, Sendable, Equatable {
    var id: Int
    var title: String
    var done: Bool
}

/// What a client sends to create a todo; `done` is optional.
struct NewTodo: Codable, Sendable {
    var title: String
    var done: Bool?

    /// The rules a decoder cannot check: answered 422 with the reason.
    func validated() throws -> NewTodo {
        let trimmed = title.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        guard !trimmed.isEmpty else { throw HTTPError(.unprocessableContent, message: "title must not be empty") }
        guard trimmed.count <= 200 else { throw HTTPError(.unprocessableContent, message: "title is longer than 200 characters") }
        return NewTodo(title: trimmed, done: done)
    }
}

/// A partial update: only the fields present change.
struct TodoChange: Codable, Sendable {
    var title: String?
    var done: Bool?
}

actor TodoStore {
    private var todos: [Int: Todo] = [:]
    private var lastID = 0

    func create(_ new: NewTodo) -> Todo {
        lastID += 1
        let todo = Todo(id: lastID, title: new.title, done: new.done ?? false)
        todos[todo.id] = todo
        return todo
    }

    func all() -> [Todo] { todos.values.sorted { $0.id < $1.id } }

    func get(_ id: Int) throws -> Todo {
        guard let todo = todos[id] else { throw HTTPError(.notFound, message: "no todo \(id)") }
        return todo
    }

    func update(_ id: Int, _ change: TodoChange) throws -> Todo {
        var todo = try get(id)
        if let title = change.title { todo.title = try NewTodo(title: title).validated().title }
        if let done = change.done { todo.done = done }
        todos[id] = todo
        return todo
    }

    func delete(_ id: Int) throws {
        guard todos.removeValue(forKey: id) != nil else { throw HTTPError(.notFound, message: "no todo \(id)") }
    }
}

/// Adds a `Server-Timing` header: how long the rest of the chain took (an asynchronous middleware).
struct Timing: AsyncMiddleware {
    func respond(to request: Request, next: (Request) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response = try await next(request)
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
        response.headers["Server-Timing"] = "app;dur=\(ms)"
        return response
    }
}

func makeTodos() -> Router {
    let store = TodoStore()
    let router = Router()
    let todos = router.group("/todos").using(Timing())
    todos.get { _ in try .json(await store.all()) }
    todos.post { request in
        let new = try await request.decode(NewTodo.self, limit: 16 << 10).validated()
        let todo = await store.create(new)
        var response = try Response.json(todo, status: .created)
        response.headers["Location"] = "/todos/\(todo.id)"
        return response
    }
    todos.get("/:id") { request in
        try .json(await store.get(request.parameters.require("id", as: Int.self)))
    }
    todos.patch("/:id") { request in
        let id = try request.parameters.require("id", as: Int.self)
        let change = try await request.decode(TodoChange.self, limit: 16 << 10)
        return try .json(await store.update(id, change))
    }
    todos.delete("/:id") { request in
        try await store.delete(request.parameters.require("id", as: Int.self))
        return Response(status: .noContent)
    }
    todos.get("/export") { _ in
        // One JSON object per line, written as the client reads them.
        let all = await store.all()
        return Response(headers: ["Content-Type": "application/x-ndjson"], body: .stream { writer in
            for todo in all { try await writer.writeJSONLine(todo) }
        })
    }
    return router
}

@_cdecl("application")
public func application() -> UnsafeRawPointer {
    export(makeTodos())
}
