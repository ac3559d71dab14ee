// The same apps with `Connection: close`: a new connection per request, where accepting dominates.
import { runIfMain } from '../lib/harness.js';
import { THROUGHPUT, throughput } from './hello-keepalive.js';

export const scenario = {
  id: 'peers-close',
  title: 'Gateway interfaces and their peers, `Connection: close`',
  description: '`GET /` with `Connection: close`: one request per connection, 50 at a time.',
  reference: 'node-cluster',
  contenders: [
    'node-cluster',
    'gserve-async-asgi',
    'uvicorn-fast',
    'gunicorn-uvicorn',
    'gserve-sync-wsgi',
    'gunicorn-sync',
    'uwsgi-prefork',
  ],
  quickContenders: ['node-cluster', 'gserve-async-asgi', 'uvicorn-fast'],
  metrics: THROUGHPUT,
  measure: (server, ctx) => throughput(server, ctx, { path: '/', close: true }),
  targets: [
    {
      text: '`asgi` interface, `Connection: close` ≥ 1.0× Uvicorn (uvloop + httptools)',
      contender: 'gserve-async-asgi',
      against: 'uvicorn-fast',
      atLeast: 1.0,
      ifMissed:
        'Every request costs an accept, a handshake and a close in both servers, and uvloop does those in C; ' +
        "gserve runs each connection's set-up in JavaScript: profile one worker with `--cpu-prof` under `wrk " +
        "-H 'Connection: close'`.",
    },
  ],
};

await runIfMain(import.meta, scenario);
