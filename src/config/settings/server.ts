import { parseAddress } from '../address.js';
import { defineSetting } from '../spec.js';
import { boolean, list, oneOf, optionalString, string, type ValueType } from '../types.js';

const SECTION = 'Server';

/**
 * A listening address, or a port alone: a JS config says `bind: 8000` as it would call
 * `listen(8000)`, and means what `-b 8000` does, port 8000 on every IPv4 address (address.ts).
 */
function address(): ValueType<string> {
  const text = string((s) => {
    try {
      parseAddress(s);
      return undefined;
    } catch (e) {
      return `${e instanceof Error ? e.message : String(e)} (in ${JSON.stringify(s)})`;
    }
  });
  const isPort = (raw: unknown): raw is number => typeof raw === 'number' && Number.isInteger(raw);
  return {
    expected: 'an address (a string) or a port number',
    schema: { oneOf: [{ type: 'string' }, { type: 'integer', minimum: 0, maximum: 65535 }] },
    takes: isPort,
    parse: (raw) => text.parse(isPort(raw) ? String(raw) : raw),
  };
}

export const serverSettings = [
  defineSetting({
    name: 'app',
    section: SECTION,
    flag: false,
    type: optionalString(),
    default: null,
    defaultDoc: 'none (the APP argument)',
    doc:
      'The app to serve, `MODULE[:ATTR]`: a path relative to the working directory (with or without ' +
      '`.js`/`.mjs`/`.cjs`; a folder means its `index`) or a package name, and an export (default `app`, ' +
      'then the default export). `ATTR` may be a call like `create()` or `create("prod", 3)` with JSON arguments: ' +
      'a factory called once per worker. A factory named without `()` is taken for the app itself: its ' +
      'requests get a 500 that says so (GSERVE_E_APP_UNCALLED_FACTORY). Usually given by the positional argument.',
  }),
  defineSetting({
    name: 'config',
    section: SECTION,
    short: '-c',
    meta: 'PATH',
    type: optionalString(),
    default: null,
    defaultDoc:
      'searched from the working directory up: `gserve.config.{js,mjs,cjs,ts,json,yaml}`, `.gserverc*`, ' +
      '`package.json` key `gserve`',
    doc: "The config file to read. Without it, gserve searches the working directory and its parents, up to the project's root (the nearest package.json).",
    reloadable: false,
  }),
  defineSetting({
    name: 'bind',
    section: SECTION,
    short: '-b',
    meta: 'ADDRESS',
    // An empty list would start a master and workers that listen nowhere.
    type: list(address(), { nonEmpty: true, items: 'addresses (strings) or port numbers' }),
    default: ['127.0.0.1:8000'],
    defaultDoc: '`127.0.0.1:8000`, or `0.0.0.0:$PORT` when `PORT` is set',
    doc:
      'Where to listen: `HOST:PORT`, `[IPv6]:PORT`, `:PORT` (all IPv4 addresses), `unix:PATH` or `fd://N`. ' +
      'Repeat the flag to listen on several. A port alone (`-b 8000`, or the number `bind: 8000` in a config file) ' +
      'is `:PORT`. Port 0 picks a free port, shown in the `Listening at` line. ' +
      "Gunicorn's `tcp://HOST:PORT` and `unix://PATH` are taken too.",
    reloadable: false,
  }),
  defineSetting({
    name: 'chdir',
    section: SECTION,
    meta: 'DIR',
    type: optionalString(),
    default: null,
    defaultDoc: 'the current directory',
    doc: 'Change to this directory before loading the app.',
    reloadable: false,
  }),
  defineSetting({
    name: 'env',
    gunicorn: { key: 'raw_env' },
    section: SECTION,
    short: '-e',
    meta: 'KEY=VALUE',
    type: list(
      string((s) => (/^[A-Za-z_][A-Za-z0-9_]*=/.test(s) ? undefined : `expected KEY=VALUE, got ${JSON.stringify(s)}`)),
      { split: false },
    ),
    default: [],
    doc: 'Set an environment variable in the workers. Repeatable.',
  }),
  defineSetting({
    name: 'pid',
    gunicorn: { key: 'pidfile' },
    section: SECTION,
    short: '-p',
    meta: 'FILE',
    type: optionalString(),
    default: null,
    doc: "Write the master's PID to this file; removed at exit.",
    reloadable: false,
  }),
  defineSetting({
    name: 'preload',
    gunicorn: { key: 'preload_app' },
    section: SECTION,
    type: boolean(),
    default: false,
    doc:
      'Load the app in the master before starting workers, so a broken app stops gserve (exit code 4) before any ' +
      "worker starts. Unlike Gunicorn's fork(2) workers, gserve's workers are fresh Node processes that load the " +
      'app themselves, so memory is not shared and HUP still reloads the code.',
    reloadable: false,
  }),
  defineSetting({
    name: 'interface',
    section: SECTION,
    short: '-i',
    type: oneOf(['auto', 'node', 'fetch', 'wsgi', 'asgi']),
    default: 'auto',
    doc:
      "The app's interface: `node` (`(req, res)` listener), `fetch` (`(Request) => Response`, or an object with a " +
      '`fetch` method), `wsgi` (`(environ, startResponse) => Iterable`), `asgi` (`async (scope, receive, send)`). ' +
      '`auto` detects it: see docs/interfaces.md.',
  }),
];
