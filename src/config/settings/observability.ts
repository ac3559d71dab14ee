import { accessFormatProblem } from '../../log/access-format.js';
import { parseAddress } from '../address.js';
import { defineSetting } from '../spec.js';
import { TypeMismatch, boolean, list, optionalBoolean, optionalString, string, type ValueType } from '../types.js';

const SECTION = 'Observability and control';

/** Gunicorn's default access log format (Apache's "combined" without the vhost). */
export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

export const observabilitySettings = [
  defineSetting({
    name: 'accessLogformat',
    gunicorn: { key: 'access_log_format' },
    section: SECTION,
    meta: 'FORMAT',
    type: string((s) =>
      s.includes('%(')
        ? accessFormatProblem(s)
        : 'expected a format with at least one %(atom)s, e.g. "%(h)s %(r)s %(s)s"',
    ),
    default: DEFAULT_ACCESS_LOG_FORMAT,
    doc:
      "The access log line, with Gunicorn's atoms: `h` remote address, `l` `-`, `u` user (basic auth), `t` date, " +
      '`r` request line, `m` method, `U` path, `q` query, `H` protocol, `s` status, `B` body bytes, ' +
      '`b` body bytes or `-`, `f` referer, `a` user agent, `T` seconds, `M` milliseconds, `D` microseconds, ' +
      '`L` decimal seconds, `p` worker pid, `{name}i` request header, `{name}o` response header, ' +
      "`{name}e` environment variable. Written as Python's `%` operator would: `%(T)d`, `%(a)r`, `%(h)-15s`, " +
      '`%%` for `%`; only the `s`, `r`, `d` and `i` conversions, `d`/`i` only on atoms that can be numbers. ' +
      'See docs/operations.md.',
  }),
  defineSetting({
    name: 'accessLogJson',
    section: SECTION,
    type: optionalBoolean(),
    default: null,
    defaultDoc:
      'auto: JSON when the access log goes to stdout (`-`) and the error log is JSON, ' +
      'so one stream never mixes the two; else `--access-logformat` lines',
    doc:
      'Write one JSON object per request to the access log (method, path, status, bytes, duration, remote, ' +
      'user agent, worker pid, request id, and the `--access-logformat` line in `msg`) instead of ' +
      '`--access-logformat` lines. `--no-access-log-json` keeps the lines.',
  }),
  defineSetting({
    name: 'logJson',
    section: SECTION,
    type: optionalBoolean(),
    default: null,
    defaultDoc: 'auto: readable lines in a terminal, JSON lines in a pipe or a file',
    doc:
      "Write the error log in JSON lines (pino's, one object per event), also in a terminal; `--no-log-json` (or " +
      '`GSERVE_LOG_JSON=false`) writes readable lines with level names, like Gunicorn, also in a pipe (Docker, ' +
      'systemd) or a file.',
  }),
  defineSetting({
    name: 'captureOutput',
    section: SECTION,
    type: boolean(),
    default: false,
    doc:
      'Send what workers (and the app) write to stdout and stderr into the error log, one line per log event, ' +
      'tagged with the worker pid.',
    reloadable: false,
  }),
  defineSetting({
    name: 'controlSocket',
    section: SECTION,
    meta: 'PATH',
    type: optionalString(),
    default: null,
    defaultDoc:
      'next to `--pid` (`NAME.ctl`), else one per app: `$XDG_RUNTIME_DIR/gserve/FOLDER-BIND.ctl` or ' +
      '`$TMPDIR/gserve-$UID/FOLDER-BIND.ctl` (hashes of the start folder and first bind)',
    doc:
      'The Unix socket (mode 0600) where the master takes commands from `gserve status`, `reload`, ' +
      '`scale` and `stop`. `off` disables it.',
    reloadable: false,
  }),
  defineSetting({
    name: 'metricsBind',
    section: SECTION,
    meta: 'HOST:PORT',
    type: tcpAddressOrNull(),
    default: null,
    defaultDoc: 'off',
    doc: 'Serve Prometheus metrics from the master at `http://HOST:PORT/metrics`.',
    reloadable: false,
  }),
  defineSetting({
    name: 'reload',
    section: SECTION,
    type: boolean(),
    default: false,
    doc:
      'Development: restart the workers when source files change (new workers first; ' +
      'the old ones keep serving if the new code fails to load).',
    reloadable: false,
  }),
  defineSetting({
    name: 'reloadDir',
    section: SECTION,
    meta: 'DIR',
    type: list(string(), { split: false }),
    default: [],
    defaultDoc: 'the working directory',
    doc: 'A directory to watch with `--reload`. Repeatable. `node_modules` is never watched.',
    reloadable: false,
  }),
  defineSetting({
    name: 'reloadInclude',
    section: SECTION,
    meta: 'GLOB',
    type: list(string()),
    default: ['*.js', '*.mjs', '*.cjs', '*.ts', '*.mts', '*.cts', '*.json'],
    doc:
      'With `--reload`, only changes to files matching one of these globs count. ' +
      'A glob without `/` matches the file name; `**` spans folders. Repeatable.',
    reloadable: false,
  }),
  defineSetting({
    name: 'reloadExclude',
    section: SECTION,
    meta: 'GLOB',
    type: list(string()),
    default: ['.*', '*~'],
    doc:
      'With `--reload`, changes to files matching one of these globs are ignored (dotfiles and editor backups by ' +
      'default). Repeatable.',
    reloadable: false,
  }),
];

/** `--metrics-bind` takes a TCP address only. */
export function parseMetricsBind(raw: string): { host: string; port: number } {
  const address = parseAddress(raw);
  if (address.kind !== 'tcp') throw new Error(`expected HOST:PORT, got ${JSON.stringify(raw)}`);
  return { host: address.host || '0.0.0.0', port: address.port };
}

function tcpAddressOrNull(): ValueType<string | null> {
  const inner = optionalString();
  return {
    expected: 'HOST:PORT',
    schema: inner.schema,
    parse(raw) {
      const value = inner.parse(raw);
      if (value === null) return null;
      try {
        parseMetricsBind(value);
      } catch (err) {
        throw new TypeMismatch(err instanceof Error ? err.message : String(err));
      }
      return value;
    },
  };
}
