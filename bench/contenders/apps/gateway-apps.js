// The same routes on gserve's WSGI and ASGI interfaces for JavaScript (docs/interfaces.md): the gateway
// interfaces that run on gserve's own engine, as the Python apps (wsgi_app.py, asgi_app.py) do on Gunicorn/Uvicorn.
import { HELLO, JSON_1K } from './routes.js';

function route(path) {
  return path === '/json' ? { body: JSON_1K, type: 'application/json' } : { body: HELLO, type: 'text/plain' };
}

/** WSGI: `(environ, startResponse) => Iterable`; run with `--interface wsgi`. */
export function wsgi(environ, startResponse) {
  const { body, type } = route(environ.PATH_INFO);
  startResponse('200 OK', [
    ['Content-Type', type],
    ['Content-Length', String(Buffer.byteLength(body))],
  ]);
  return [body];
}

const encoder = new TextEncoder();
// Bytes made once, as asgi_app.py's b"..." literals are: per request, like it, only the length is encoded.
const ASGI_ROUTES = {
  hello: { body: encoder.encode(HELLO), type: encoder.encode('text/plain') },
  json: { body: encoder.encode(JSON_1K), type: encoder.encode('application/json') },
};
const CONTENT_TYPE = encoder.encode('content-type');
const CONTENT_LENGTH = encoder.encode('content-length');

/** ASGI 3: `async (scope, receive, send)`; run with `--interface asgi`. */
export async function asgi(scope, receive, send) {
  if (scope.type === 'lifespan') {
    for (;;) {
      const event = await receive();
      if (event.type === 'lifespan.startup') await send({ type: 'lifespan.startup.complete' });
      else if (event.type === 'lifespan.shutdown') return send({ type: 'lifespan.shutdown.complete' });
    }
  }
  if (scope.type !== 'http') return;
  // Read the request first, as asgi_app.py does for Hypercorn's sake: the same work on every ASGI server.
  await receive();
  const { body, type } = scope.path === '/json' ? ASGI_ROUTES.json : ASGI_ROUTES.hello;
  await send({
    type: 'http.response.start',
    status: 200,
    headers: [
      [CONTENT_TYPE, type],
      [CONTENT_LENGTH, encoder.encode(String(body.length))],
    ],
  });
  await send({ type: 'http.response.body', body });
}
