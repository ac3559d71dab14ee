// A 1 KB JSON response over keep-alive: a slightly bigger body than hello, as typical API responses are.
import { runIfMain } from '../lib/harness.js';
import { THROUGHPUT, throughput } from './hello-keepalive.js';

export const scenario = {
  id: 'json-1k',
  title: '1 KB JSON, keep-alive',
  description: '`GET /json` → 1024-byte JSON document, 50 keep-alive connections.',
  reference: 'node-cluster',
  contenders: ['node-cluster', 'gserve-async-node', 'gserve-async-fetch', 'pm2', 'nginx'],
  quick: false,
  metrics: THROUGHPUT,
  measure: (server, ctx) => throughput(server, ctx, { path: '/json' }),
};

await runIfMain(import.meta, scenario);
