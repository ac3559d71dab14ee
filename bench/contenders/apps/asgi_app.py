# The same routes for Uvicorn: bench/contenders/apps/routes.js is the source of truth.
from wsgi_app import HELLO, JSON_1K


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    body, ctype = (JSON_1K, b"application/json") if path == "/json" else (HELLO, b"text/plain")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
