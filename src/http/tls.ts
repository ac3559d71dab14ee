import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { TlsOptions, TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { tlsParent } from './node-internals.js';
import { inheritPeer } from './proxy-protocol.js';
import { TlsSetupError, checkCaCerts, checkKeyMatches, diagnoseTlsFailure } from './tls-check.js';

/** node:tls, loaded on first use: a master or worker without --certfile never needs it. */
const tls = (): typeof import('node:tls') => createRequire(import.meta.url)('node:tls');

export interface TlsSettings {
  certfile: string | null;
  keyfile: string | null;
  caCerts: string | null;
  certReqs: 'none' | 'optional' | 'required';
  ciphers: string | null;
  http2: boolean;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

function readPem(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? err.code : undefined;
    throw new TlsSetupError(
      `Cannot read --${setting} ${path}: ${code ?? messageOf(err)}. Check the path and its permissions.`,
    );
  }
}

/**
 * The TLS options from the settings, or null when TLS is off. Loaded by the master first, so a
 * wrong file or a key that does not match the certificate stops gserve at startup with one line.
 */
export function tlsOptions(s: TlsSettings): TlsOptions | null {
  if (!s.certfile) {
    if (s.http2)
      throw new TlsSetupError('--http2 needs TLS: give --certfile and --keyfile (HTTP/2 without TLS is not served).');
    if (s.keyfile || s.caCerts) throw new TlsSetupError('--keyfile and --ca-certs need --certfile too.');
    return null;
  }
  if (s.certReqs !== 'none' && !s.caCerts)
    throw new TlsSetupError(`--cert-reqs ${s.certReqs} needs --ca-certs, the CAs that sign client certificates.`);
  const options: TlsOptions = {
    cert: readPem(s.certfile, 'certfile'),
    key: readPem(s.keyfile ?? s.certfile, 'keyfile'),
    ca: s.caCerts ? readPem(s.caCerts, 'ca-certs') : undefined,
    requestCert: s.certReqs !== 'none',
    rejectUnauthorized: s.certReqs === 'required',
    ciphers: s.ciphers ?? undefined,
    ALPNProtocols: s.http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
  };
  const sources = { certfile: s.certfile, keyfile: s.keyfile, ciphers: s.ciphers };
  if (s.caCerts) checkCaCerts(options.ca as Buffer, s.caCerts);
  const create = (o: TlsOptions) => tls().createSecureContext(o);
  try {
    create(options);
  } catch (err) {
    throw (
      diagnoseTlsFailure(create, options, sources) ??
      new TlsSetupError(
        `The TLS certificate, key or ciphers are not usable: ${messageOf(err)}. ` +
          'Check that --keyfile matches --certfile and that both are PEM.',
      )
    );
  }
  checkKeyMatches(options, sources);
  return options;
}

/**
 * When each connection was accepted (performance.now()), for clocks that start at the accept: a
 * fact about each connection, held weakly, never shared between connections or configured.
 */
const acceptedAt = new WeakMap<Socket, number>();

/** Records the accept time of a raw socket, once: the edge calls it before the PROXY header or TLS. */
export function markAccepted(socket: Socket): void {
  if (!acceptedAt.has(socket)) acceptedAt.set(socket, performance.now());
}

/** Milliseconds left of `budget` counted from the socket's accept (0 = no limit, stays 0). */
export function timeLeft(socket: Socket, budget: number): number {
  if (budget <= 0) return 0;
  const since = acceptedAt.get(socket);
  return since === undefined ? budget : Math.max(1, budget - (performance.now() - since));
}

export type HandshakeFailure = 'timeout' | 'error';

export interface TlsLayerHooks {
  /** --header-timeout in ms (0 = none): the handshake must end within it, counted from the accept. */
  headerTimeout: number;
  onFailure(kind: HandshakeFailure, detail: string, raw: Socket): void;
}

/**
 * TLS over sockets the worker accepted itself: a tls.Server that never listens, fed raw sockets,
 * handing each finished handshake on. A failed handshake only closes that connection.
 *
 * The handshake is timed from the accept with an absolute deadline of --header-timeout. Node's own
 * `handshakeTimeout` is an idle timer, which a client trickling its ClientHello a byte at a time
 * would keep resetting; and a client that never sends a ClientHello would hold a connection slot
 * for Node's 120 s default.
 */
export function tlsLayer(
  options: TlsOptions,
  onSecure: (socket: TLSSocket) => void,
  hooks: TlsLayerHooks,
): (raw: Socket) => void {
  const timers = new WeakMap<Socket, NodeJS.Timeout>();
  const timedOut = new WeakSet<Socket>();
  const settle = (raw: Socket) => {
    const timer = timers.get(raw);
    if (timer) clearTimeout(timer);
    timers.delete(raw);
  };
  const server = tls().createServer(options, (socket) => {
    const raw = tlsParent(socket);
    if (!raw) return socket.destroy(); // not one of ours: nothing to time, nothing to serve
    settle(raw);
    inheritPeer(raw, socket);
    const since = acceptedAt.get(raw);
    if (since !== undefined) acceptedAt.set(socket, since);
    onSecure(socket);
  });
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    const raw = tlsParent(socket);
    if (!raw || timedOut.has(raw)) return; // our own timeout, already counted
    settle(raw);
    hooks.onFailure('error', err.message, raw);
  });
  return (raw) => {
    markAccepted(raw);
    const left = timeLeft(raw, hooks.headerTimeout);
    if (left > 0) {
      const timer = setTimeout(() => {
        timers.delete(raw);
        timedOut.add(raw);
        hooks.onFailure(
          'timeout',
          `no TLS handshake within ${hooks.headerTimeout / 1000} s of the accept (--header-timeout)`,
          raw,
        );
        raw.destroy();
      }, left);
      timer.unref();
      timers.set(raw, timer);
      raw.once('close', () => settle(raw));
    }
    server.emit('connection', raw);
  };
}
