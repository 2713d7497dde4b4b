"""The example application for Uvicorn: same routes as arbiter's async example."""
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
    if scope["path"] == "/sleep":
        seconds = float(parse_qs(scope.get("query_string", b"").decode()).get("seconds", ["1"])[0])
        await asyncio.sleep(seconds)
        body = b"slept"
    else:
        body = b"Hello, World!"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
