"""The example application for Uvicorn and Granian: same routes as arbiter's async example, with
the WebSocket echo at /ws (every message sent back as it came, text as text, binary as binary)."""
import asyncio
from urllib.parse import parse_qs


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        if scope["path"] == "/ws":
            await echo(receive, send)
        else:  # refused before the accept: the server answers the handshake with 403
            await receive()
            await send({"type": "websocket.close"})
        return
    if scope["path"] == "/sleep":
        seconds = float(parse_qs(scope.get("query_string", b"").decode()).get("seconds", ["1"])[0])
        await asyncio.sleep(seconds)
        body = b"slept"
    else:
        body = b"Hello, World!"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def echo(receive, send):
    """The ASGI WebSocket echo: accept on `websocket.connect`, answer each `websocket.receive`."""
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
        elif kind == "websocket.disconnect":
            return
