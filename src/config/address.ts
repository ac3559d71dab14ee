/**
 * Parsing of `--bind` values. Kept beside the settings (not in master/) so that a wrong address is
 * rejected while the config is validated, before any process starts.
 */
import { isIPv6 } from 'node:net';

export type Address =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'fd'; fd: number };

/** The schemes Gunicorn's `--bind` takes: `tcp://HOST:PORT` is HOST:PORT, `unix://PATH` is unix:PATH. */
const GUNICORN_SCHEMES = /^(?:tcp|unix):\/\//i;

export function parseAddress(raw: string): Address {
  let s = raw.trim();
  if (!s) throw new Error('an address is empty; e.g. 127.0.0.1:8000, :8000 or unix:/run/gserve.sock');
  const gunicorn = GUNICORN_SCHEMES.exec(s);
  if (gunicorn) {
    const rest = s.slice(gunicorn[0].length);
    const tcp = gunicorn[0].toLowerCase() === 'tcp://';
    // What follows is one address of that kind, never empty (every address) nor another form.
    if (!rest || (tcp && /^(?:unix:|[a-z][a-z0-9+.-]*:\/\/)/i.test(rest)))
      throw new Error(
        `${gunicorn[0]} takes ${tcp ? 'HOST:PORT, e.g. tcp://127.0.0.1:8000' : 'a path, e.g. unix:///run/gserve.sock'}`,
      );
    s = tcp ? rest : `unix:${rest}`;
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s);
  if (scheme && scheme[1]!.toLowerCase() !== 'fd')
    throw new Error(`an address is HOST:PORT, not a URL: drop the "${scheme[0]}"`);
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (!path) throw new Error('a unix socket needs a path, e.g. unix:/run/gserve.sock');
    return { kind: 'unix', path };
  }
  if (s.startsWith('fd://')) {
    const fd = /^\d+$/.test(s.slice(5)) ? Number(s.slice(5)) : Number.NaN;
    if (!Number.isSafeInteger(fd))
      throw new Error('an inherited socket is fd://N with N a file descriptor number, e.g. fd://3');
    return { kind: 'fd', fd };
  }
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    portText = v6[2] ?? '8000';
    // Brackets hold an IPv6 address. `[]` (a JSON list, perhaps) must not fall through to "every address".
    if (!isIPv6(host))
      throw new Error(
        `brackets hold an IPv6 address, got ${JSON.stringify(s)}: write [::1]:8000 (this machine), ` +
          '[::]:8000 (every IPv6 address) or HOST:PORT; several addresses are several binds',
      );
  } else if (s.includes(':')) {
    const at = s.lastIndexOf(':');
    host = s.slice(0, at);
    portText = s.slice(at + 1);
    if (host.includes(':')) throw new Error('put an IPv6 address in brackets, e.g. [::1]:8000');
  } else if (/^\d+$/.test(s)) {
    host = '';
    portText = s;
  } else {
    host = s;
    portText = '8000';
  }
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
    throw new Error(`the port must be a number from 0 to 65535 (0 picks a free one), got ${JSON.stringify(portText)}`);
  }
  return { kind: 'tcp', host: host || '0.0.0.0', port: Number(portText) };
}

export function formatAddress(a: Address): string {
  switch (a.kind) {
    case 'unix':
      return `unix:${a.path}`;
    case 'fd':
      return `fd://${a.fd}`;
    case 'tcp':
      return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
  }
}
