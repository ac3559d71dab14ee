# The same routes for Uvicorn: bench/contenders/apps/routes.js is the source of truth.
from wsgi_app import HELLO, JSON_1K


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    # Read the request first, as a well-behaved ASGI app does: Debian's Hypercorn 0.13 with h11 0.14 resets a
    # keep-alive connection whose request was never received. Every ASGI hello here does the same (gateway-apps.js).
    await receive()
    path = scope["path"]
    body, ctype = (JSON_1K, b"application/json") if path == "/json" else (HELLO, b"text/plain")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
