// The gateway interfaces against the servers their protocols come from, each run as its users deploy it:
// Uvicorn on uvloop + httptools, Gunicorn's UvicornWorker, Hypercorn, uWSGI, Waitress, CherryPy; Bun as the ceiling.
import { runIfMain } from '../lib/harness.js';
import { THROUGHPUT, throughput } from './hello-keepalive.js';

export const scenario = {
  id: 'peers-keepalive',
  title: 'Gateway interfaces and their peers, hello, keep-alive',
  description:
    '`GET /` → 13-byte text, 50 keep-alive connections, the ASGI and WSGI apps on every server that hosts them.',
  reference: 'node-cluster',
  contenders: [
    'node-cluster',
    'gserve-async-asgi',
    'uvicorn-fast',
    'gunicorn-uvicorn',
    'hypercorn',
    'uvicorn',
    'gserve-thread-wsgi',
    'gserve-async-wsgi',
    'uwsgi-threads',
    'uwsgi-prefork',
    'gunicorn-gthread',
    'waitress',
    'cherrypy',
    'gserve-async-fetch',
    'bun',
  ],
  quickContenders: ['node-cluster', 'gserve-async-asgi', 'uvicorn-fast', 'gserve-thread-wsgi', 'uwsgi-threads'],
  metrics: THROUGHPUT,
  measure: (server, ctx) => throughput(server, ctx, { path: '/' }),
  targets: [
    {
      text: '`asgi` interface, keep-alive ≥ 1.0× Uvicorn (uvloop + httptools)',
      contender: 'gserve-async-asgi',
      against: 'uvicorn-fast',
      atLeast: 1.0,
      ifMissed:
        "Uvicorn's hot path is C (httptools' parser, uvloop's event loop); gserve's is JavaScript end to end, so the gap is the per-request objects of the ASGI adapter (scope, header lists, events): profile one worker with `--cpu-prof`.",
    },
    {
      text: '`wsgi` interface in `-k thread --threads 2` ≥ 1.0× uWSGI with 2 threads per process',
      contender: 'gserve-thread-wsgi',
      against: 'uwsgi-threads',
      atLeast: 1.0,
      ifMissed:
        "uWSGI's threads each parse, call Python and write on their own connections. gserve's thread class keeps every " +
        "socket on the worker's main thread, so that a blocking handler never stalls I/O, and hands each request to " +
        'an app thread and back: in a `--cpu-prof` of `-w 1 --threads 2` under wrk, the main thread spends about 13 µs ' +
        'per request in postMessage (the copy and the wake-up of the app thread) on top of the write(2), while the app ' +
        'threads mostly wait.',
    },
    {
      text: '`wsgi` interface in `-k thread --threads 2` ≥ 1.5× Gunicorn gthread with 2 threads per worker',
      contender: 'gserve-thread-wsgi',
      against: 'gunicorn-gthread',
      atLeast: 1.5,
    },
    {
      text: '`-k thread --threads 2` ≥ 0.5× `-k async` with the same `wsgi` app',
      contender: 'gserve-thread-wsgi',
      against: 'gserve-async-wsgi',
      atLeast: 0.5,
      ifMissed:
        "Each request crosses from the worker's main thread to an app thread and back; the messages and their copies are the cost.",
    },
    {
      text: '`wsgi` interface in `-k thread --threads 2` ≥ 1.5× Waitress',
      contender: 'gserve-thread-wsgi',
      against: 'waitress',
      atLeast: 1.5,
    },
    {
      text: '`fetch` interface ≥ 0.5× Bun (the JavaScript ceiling)',
      contender: 'gserve-async-fetch',
      against: 'bun',
      atLeast: 0.5,
      ifMissed:
        "Bun's server is native code with the fetch objects built in; on Node, gserve's engine and its lazy Request are JavaScript: profile one worker with `--cpu-prof`.",
    },
  ],
};

await runIfMain(import.meta, scenario);
