# The same routes for Uvicorn: bench/contenders/apps/routes.js is the source of truth.
import time

from wsgi_app import HELLO, JSON_1K, cpu_work


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/json":
        body, ctype = JSON_1K, b"application/json"
    else:
        if path == "/slow":
            end = time.monotonic() + 0.05
            while time.monotonic() < end:
                pass
        body, ctype = (cpu_work() if path == "/cpu" else HELLO), b"text/plain"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
