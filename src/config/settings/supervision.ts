import { defineSetting } from '../spec.js';
import { bytes, func, integer } from '../types.js';

const SECTION = 'Supervision';

/** A server hook: a function in a JavaScript config file, like Gunicorn's hooks in its config module. */
const hook = <const N extends string>(name: N, doc: string) =>
  defineSetting({
    name,
    section: 'Server hooks',
    flag: false,
    env: false,
    type: func(),
    default: null,
    defaultDoc: 'none',
    doc,
  });

export const supervisionSettings = [
  defineSetting({
    name: 'maxRequests',
    section: SECTION,
    meta: 'INT',
    type: integer({ min: 0 }),
    default: 0,
    doc: 'A worker that has answered this many requests is replaced gracefully: a bound on slow leaks. 0 disables.',
  }),
  defineSetting({
    name: 'maxRequestsJitter',
    section: SECTION,
    meta: 'INT',
    type: integer({ min: 0 }),
    default: 0,
    doc: 'Adds a random 0..N to `maxRequests` per worker, so that workers do not all restart at once.',
  }),
  defineSetting({
    name: 'maxWorkerMemory',
    section: SECTION,
    meta: 'SIZE',
    // A Node worker alone holds 40-60 MB: a ceiling below 32 MiB is a unit left out, and recycled forever.
    type: bytes({ zeroOrAtLeast: 32 * 2 ** 20 }),
    default: 0,
    defaultDoc: '0 (no limit)',
    doc:
      'A worker whose resident memory (RSS) passes this size, e.g. `512MB`, is replaced gracefully. ' +
      'Checked ten times a second, and after responses under load. 0 disables; otherwise at least 32 MiB.',
  }),
  hook('onStarting', '`(server)`, in the master before the listeners are bound. If it throws, gserve does not start.'),
  hook(
    'onReload',
    '`(server)`, in the master on HUP, after the config file was read again and before new workers start.',
  ),
  hook('whenReady', '`(server)`, in the master once the first workers are all ready to serve.'),
  hook('preFork', '`(server, worker)`, in the master just before a worker is started.'),
  hook('postFork', '`(server, worker)`, in the worker when it starts, before the app is loaded.'),
  hook('postWorkerInit', '`(worker)`, in the worker after the app is loaded, before it takes connections.'),
  hook('workerInt', '`(worker)`, in the worker on a fast stop (INT or QUIT).'),
  hook(
    'workerAbort',
    '`(worker)`, in the worker on SIGABRT (a heartbeat timeout), when its event loop is still able to run it.',
  ),
  hook('preExec', '`(server)`, in the master just before a new master is started on USR2.'),
  hook('preRequest', '`(worker, req)`, in the worker before the app handles a request.'),
  hook('postRequest', '`(worker, req, res)`, in the worker after a response was sent.'),
  hook('childExit', '`(server, worker)`, in the master after a worker exited.'),
  hook('workerExit', '`(server, worker)`, in the worker when it exits after a graceful stop.'),
  hook(
    'nworkersChanged',
    '`(server, newValue, oldValue)`, in the master when the number of workers changes (TTIN, TTOU, WINCH, HUP).',
  ),
  hook('onExit', '`(server)`, in the master just before it exits.'),
];

/** A list of hook names, typed by the union of exactly those names (not widened to string). */
const hookNames = <const N extends string>(...names: N[]): readonly N[] => names;

/** Hooks that run in the master process. */
export const MASTER_HOOKS = hookNames(
  'onStarting',
  'onReload',
  'whenReady',
  'preFork',
  'preExec',
  'childExit',
  'nworkersChanged',
  'onExit',
);
/** Hooks that run in each worker process, which loads the config file itself (functions do not travel over IPC). */
export const WORKER_HOOKS = hookNames(
  'postFork',
  'postWorkerInit',
  'workerInt',
  'workerAbort',
  'preRequest',
  'postRequest',
  'workerExit',
);
export type MasterHookName = (typeof MASTER_HOOKS)[number];
export type WorkerHookName = (typeof WORKER_HOOKS)[number];
