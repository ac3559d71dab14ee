// A response written in two parts over keep-alive, as a streaming `(req, res)` app writes one: a server whose
// connections leave Nagle's algorithm on holds the second part until the client's delayed ACK, ~40 ms per request.
import { runIfMain } from '../lib/harness.js';
import { THROUGHPUT, throughput } from './hello-keepalive.js';

export const scenario = {
  id: 'stream',
  title: 'Response in two writes, keep-alive',
  description:
    '`GET /stream` → the hello text in two chunked writes (`res.write`, then `res.end` on the next turn of the ' +
    'event loop), 50 keep-alive connections.',
  reference: 'node-cluster',
  contenders: ['node-cluster', 'gserve-async-node', 'pm2'],
  quick: false,
  metrics: THROUGHPUT,
  measure: (server, ctx) => throughput(server, ctx, { path: '/stream' }),
  targets: [
    {
      // A guard, not a parity target (hello-keepalive has that): a held second write costs ~40 ms a request, which
      // shows as ~0.05×, far below anything the machine's noise does.
      text: 'async, `node` interface, a response in two writes is not held back: ≥ 0.5× the hand-written node:cluster server',
      contender: 'gserve-async-node',
      against: 'node-cluster',
      atLeast: 0.5,
      ifMissed:
        'The second write waited for the client to acknowledge the first (a delayed ACK, ~40 ms): a connection ' +
        'without TCP_NODELAY. The listeners set `noDelay` (worker/listen.ts, master/dispatch.ts), and so does ' +
        'the node path (http/node-server.ts).',
    },
  ],
};

await runIfMain(import.meta, scenario);
