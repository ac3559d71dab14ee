// `fetch` hello: the same Hono app served by gserve's fetch interface and by @hono/node-server (under node:cluster).
import { runIfMain } from '../lib/harness.js';
import { FETCH_PATH_NOTE } from '../lib/notes.js';
import { THROUGHPUT, throughput } from './hello-keepalive.js';

export const scenario = {
  id: 'fetch-vs-hono',
  title: '`fetch` hello: the same Hono app',
  description: '`GET /` → Hono `c.text()`, 50 keep-alive connections; the plain fetch app (no Hono) for comparison.',
  reference: 'hono-node-server',
  contenders: ['hono-node-server', 'gserve-async-hono', 'gserve-async-fetch'],
  metrics: THROUGHPUT,
  measure: (server, ctx) => throughput(server, ctx, { path: '/' }),
  targets: [
    { text: '`fetch` interface ≥ 1.2× @hono/node-server with the same Hono app', contender: 'gserve-async-hono', against: 'hono-node-server', atLeast: 1.2, ifMissed: FETCH_PATH_NOTE },
  ],
};

await runIfMain(import.meta, scenario);
