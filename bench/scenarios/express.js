// A real Express app (body parser, a middleware, a route parameter) on gserve and on the node:cluster server users
// write by hand: what hosting costs once the framework does real work per request.
import { runIfMain } from '../lib/harness.js';
import { THROUGHPUT, throughput } from './hello-keepalive.js';

export const scenario = {
  id: 'express',
  title: 'Express, keep-alive',
  description:
    '`GET /users/42` → a small JSON body through an Express app with `express.json()` and a middleware, 50 keep-alive connections.',
  reference: 'node-cluster-express',
  contenders: ['node-cluster-express', 'gserve-async-express'],
  metrics: THROUGHPUT,
  measure: (server, ctx) => throughput(server, ctx, { path: '/users/42' }),
  targets: [
    {
      text: 'Express app ≥ 0.95× node:cluster hosting the same app',
      contender: 'gserve-async-express',
      against: 'node-cluster-express',
      atLeast: 0.95,
      ifMissed:
        "Both run the app on node:http; the difference is what gserve's node path adds per request (checks, counters): profile one worker with `--cpu-prof`.",
    },
  ],
};

await runIfMain(import.meta, scenario);
