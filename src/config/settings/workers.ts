import { defineSetting } from '../spec.js';
import { oneOf, seconds } from '../types.js';
import { workerCount } from '../workers-auto.js';

const SECTION = 'Workers';
/** The most workers one master runs: `-w`, `gserve scale` and TTIN all stop here. */
export const MAX_WORKERS = 1024;

export const workerSettings = [
  defineSetting({
    name: 'workers',
    section: SECTION,
    short: '-w',
    meta: 'INT|auto',
    type: workerCount({ min: 1, max: MAX_WORKERS }),
    default: 1,
    defaultDoc: '1, or `$WEB_CONCURRENCY` when set',
    doc:
      'How many worker processes to run. `auto` runs one per CPU this process may use: ' +
      'the CPU affinity, lowered to the cgroup CPU quota (`cpu.max`; ' +
      'a Kubernetes CPU limit), rounded down, at least 1. See docs/deployment.md.',
  }),
  defineSetting({
    name: 'workerClass',
    section: SECTION,
    short: '-k',
    meta: 'CLASS',
    type: oneOf(['async', 'sync', 'thread'], { gthread: 'thread' }),
    default: 'async',
    doc:
      'The worker class: `async`, many connections on one event loop; ' +
      '`sync`, one request at a time, handed only to an idle worker (for blocking code); ' +
      '`thread`, a pool of `--threads` worker threads per process (`gthread` is accepted). ' +
      'See docs/worker-classes.md.',
    // The sync class changes who accepts (the master), which a reload cannot switch under running workers.
    reloadable: false,
  }),
  defineSetting({
    name: 'timeout',
    section: SECTION,
    short: '-t',
    meta: 'SECONDS',
    type: seconds(),
    default: 30,
    doc: 'A worker silent (its event loop blocked) for this long is killed and replaced. 0 disables.',
  }),
  defineSetting({
    name: 'gracefulTimeout',
    section: SECTION,
    meta: 'SECONDS',
    type: seconds(),
    default: 30,
    doc: 'On a graceful stop, how long in-flight requests may take before the workers are killed.',
  }),
  defineSetting({
    name: 'keepAlive',
    gunicorn: { key: 'keepalive' },
    section: SECTION,
    meta: 'SECONDS',
    type: seconds(),
    default: 2,
    doc: 'How long an idle keep-alive connection is kept open between requests.',
  }),
];
