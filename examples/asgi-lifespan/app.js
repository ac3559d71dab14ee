// An ASGI-style app with lifespan and a WebSocket echo.
// Lifespan startup loads a "database" once per worker and puts it in scope.state, which gserve
// copies into every request scope; shutdown runs when the worker stops.
const enc = new TextEncoder();

export async function app(scope, receive, send) {
  if (scope.type === 'lifespan') {
    for (;;) {
      const event = await receive();
      if (event.type === 'lifespan.startup') {
        scope.state.db = new Map([['greeting', 'Hello from ASGI!']]);
        scope.state.startedAt = new Date().toISOString();
        await send({ type: 'lifespan.startup.complete' });
      } else if (event.type === 'lifespan.shutdown') {
        scope.state.db.clear();
        await send({ type: 'lifespan.shutdown.complete' });
        return;
      }
    }
  }

  if (scope.type === 'websocket') {
    await receive(); // websocket.connect
    await send({ type: 'websocket.accept' });
    for (;;) {
      const event = await receive();
      if (event.type === 'websocket.disconnect') return;
      await send({
        type: 'websocket.send',
        ...(event.text !== undefined ? { text: `echo: ${event.text}` } : { bytes: event.bytes }),
      });
    }
  }

  // http
  const body = JSON.stringify({
    greeting: scope.state.db.get('greeting'),
    startedAt: scope.state.startedAt,
    path: scope.path,
  });
  await send({
    type: 'http.response.start',
    status: 200,
    headers: [[enc.encode('content-type'), enc.encode('application/json')]],
  });
  await send({ type: 'http.response.body', body: enc.encode(body) });
}
