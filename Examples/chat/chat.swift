// A chat room over WebSockets: `arbiter chat:application -k async`, then open http://localhost:8000/
// in two browser tabs (or `python3 -m websockets ws://localhost:8000/chat?name=ann`).
import AppProtocol

/// The sockets open in this worker. Each worker process has its own memory, so each has its own
/// room: with `-w 4` there are four rooms, and a message reaches the people whose sockets landed
/// in the same worker. To span workers and machines, relay through an external broker (Redis
/// pub/sub, NATS, PostgreSQL LISTEN/NOTIFY): each worker subscribes and broadcasts what arrives.
actor Room {
    private var members: [Int: WebSocket] = [:]
    private var lastID = 0

    func join(_ socket: WebSocket) -> Int {
        lastID += 1
        members[lastID] = socket
        return lastID
    }

    func leave(_ id: Int) {
        members[id] = nil
    }

    /// Sends to every member at once: one slow reader delays only its own copy (each `send` waits
    /// while its client is slow to read, instead of buffering without bound).
    func broadcast(_ text: String) async {
        let sockets = Array(members.values)
        await withTaskGroup(of: Void.self) { group in
            for socket in sockets {
                group.addTask { try? await socket.send(text) }
            }
        }
    }
}

func makeRouter() -> Router {
    let room = Room()
    let router = Router()
    router.get("/") { _ in
        Response(headers: ["Content-Type": "text/html; charset=utf-8"], body: .string(page))
    }
    router.webSocket("/chat") { request, socket in
        let name = String((request.query["name"] ?? "guest").prefix(32))
        let id = await room.join(socket)
        await room.broadcast("\(name) joined")
        do {
            for try await message in socket {
                guard case .text(let text) = message else { continue }
                await room.broadcast("\(name): \(text)")
            }
        } catch {
            // The connection failed (a protocol error, or the client vanished): leave the room.
        }
        await room.leave(id)
        await room.broadcast("\(name) left")
    }
    return router
}

let page = """
    <!doctype html>
    <meta charset="utf-8"><title>arbiter chat</title>
    <input id="name" placeholder="your name"> <button id="join">join</button>
    <pre id="log"></pre>
    <input id="text" placeholder="say something" disabled>
    <script>
    let socket;
    join.onclick = () => {
      socket = new WebSocket(`ws://${location.host}/chat?name=${encodeURIComponent(name.value || "guest")}`);
      socket.onmessage = (event) => { log.textContent += event.data + "\\n"; };
      socket.onopen = () => { text.disabled = false; text.focus(); };
      socket.onclose = (event) => { log.textContent += `(closed: ${event.code})\\n`; text.disabled = true; };
    };
    text.onkeydown = (event) => {
      if (event.key === "Enter" && text.value) { socket.send(text.value); text.value = ""; }
    };
    </script>
    """

@_cdecl("application")
public func application() -> UnsafeRawPointer {
    export(makeRouter())
}
