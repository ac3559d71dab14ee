// Hello with `Connection: close`: a new TCP connection per request, so accepting and balancing connections dominate.
import { runIfMain } from '../lib/harness.js';
import { THROUGHPUT, throughput } from './hello-keepalive.js';

export const scenario = {
  id: 'hello-close',
  title: 'Hello, `Connection: close`',
  description: '`GET /` with `Connection: close`: one request per connection, 50 at a time.',
  reference: 'node-cluster',
  contenders: [
    'node-cluster',
    'gserve-async-node',
    'gserve-sync-node',
    'gserve-sync-wsgi',
    'node-cluster-reuseport',
    'pm2',
    'nginx',
    'gunicorn-sync',
  ],
  quickContenders: ['node-cluster', 'gserve-async-node'],
  metrics: THROUGHPUT,
  measure: (server, ctx) => throughput(server, ctx, { path: '/', close: true }),
  targets: [
    {
      text: '`Connection: close` ≥ 1.5× node:cluster round-robin (kernel balancing)',
      contender: 'gserve-async-node',
      against: 'node-cluster',
      atLeast: 1.5,
      ifMissed:
        "The gain comes from each worker accepting on the inherited listener (kernel balancing), where node:cluster's " +
        'primary accepts every connection and passes it to a worker over IPC; check that the master never accepts.',
    },
  ],
};

await runIfMain(import.meta, scenario);
