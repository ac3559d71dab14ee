# The same routes for Gunicorn (sync, gthread): bench/contenders/apps/routes.js is the source of truth.
import json

HELLO = b"Hello, world!"
_items = [{"id": i, "name": "item-%d" % i, "ok": i % 2 == 0} for i in range(16)]
_base = json.dumps({"items": _items, "pad": ""}, separators=(",", ":"))
JSON_1K = json.dumps({"items": _items, "pad": "x" * (1024 - len(_base))}, separators=(",", ":")).encode()


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    body, ctype = (JSON_1K, "application/json") if path == "/json" else (HELLO, "text/plain")
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]
