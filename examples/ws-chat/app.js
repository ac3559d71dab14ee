// A small WebSocket chat in Bun's convention: the same file runs under `bun run` and under gserve.
// fetch(req, server) upgrades /chat; every message is published to the "room" topic.
const PAGE = `<!doctype html><meta charset="utf-8"><title>chat</title>
<ul id="log"></ul><form id="f"><input id="m" autocomplete="off"><button>Send</button></form>
<script>
const ws = new WebSocket(location.origin.replace('http', 'ws') + '/chat');
ws.onmessage = (e) => { const li = document.createElement('li'); li.textContent = e.data; log.appendChild(li); };
f.onsubmit = (e) => { e.preventDefault(); ws.send(m.value); m.value = ''; };
</script>`;

let guests = 0;

export default {
  fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname === '/chat') {
      if (server.upgrade(request, { data: { name: url.searchParams.get('name') || `guest${++guests}` } }))
        return undefined;
      return new Response('expected a WebSocket upgrade', { status: 426 });
    }
    return new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } });
  },
  websocket: {
    open(ws) {
      ws.subscribe('room');
      ws.publish('room', `${ws.data.name} joined`);
    },
    message(ws, message) {
      const line = `${ws.data.name}: ${message}`;
      ws.publish('room', line); // to the others
      ws.send(line); // and back to the sender
    },
    close(ws) {
      ws.publish('room', `${ws.data.name} left`);
    },
  },
};
