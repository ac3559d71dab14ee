import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { TlsOptions, TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { GserveError, ExitCode } from '../errors.js';
import { inheritPeer } from './proxy-protocol.js';

/** node:tls, loaded on first use: a master or worker without --certfile never needs it. */
const tls = (): typeof import('node:tls') => createRequire(import.meta.url)('node:tls');

export class TlsSetupError extends GserveError {
  override name = 'TlsSetupError';
  constructor(message: string) {
    super('GSERVE_E_TLS', message, ExitCode.USAGE);
  }
}

export interface TlsSettings {
  certfile: string | null;
  keyfile: string | null;
  caCerts: string | null;
  certReqs: 'none' | 'optional' | 'required';
  ciphers: string | null;
  http2: boolean;
}

function readPem(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsSetupError(`Cannot read --${setting} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the path and its permissions.`);
  }
}

/**
 * The TLS options from the settings, or null when TLS is off. Loaded by the master first, so a
 * wrong file or a key that does not match the certificate stops gserve at startup with one line.
 */
export function tlsOptions(s: TlsSettings): TlsOptions | null {
  if (!s.certfile) {
    if (s.http2) throw new TlsSetupError('--http2 needs TLS: give --certfile and --keyfile (HTTP/2 without TLS is not served).');
    if (s.keyfile || s.caCerts) throw new TlsSetupError('--keyfile and --ca-certs need --certfile too.');
    return null;
  }
  if (s.certReqs !== 'none' && !s.caCerts) throw new TlsSetupError(`--cert-reqs ${s.certReqs} needs --ca-certs, the CAs that sign client certificates.`);
  const options: TlsOptions = {
    cert: readPem(s.certfile, 'certfile'),
    key: readPem(s.keyfile ?? s.certfile, 'keyfile'),
    ca: s.caCerts ? readPem(s.caCerts, 'ca-certs') : undefined,
    requestCert: s.certReqs !== 'none',
    rejectUnauthorized: s.certReqs === 'required',
    ciphers: s.ciphers ?? undefined,
    ALPNProtocols: s.http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
  };
  try {
    tls().createSecureContext(options);
  } catch (err) {
    throw new TlsSetupError(`The TLS certificate, key or ciphers are not usable: ${(err as Error).message}. Check that --keyfile matches --certfile and that both are PEM.`);
  }
  return options;
}

/**
 * TLS over sockets the worker accepted itself: a tls.Server that never listens, fed raw sockets,
 * handing each finished handshake on. A failed handshake only closes that connection.
 */
export function tlsLayer(options: TlsOptions, onSecure: (socket: TLSSocket) => void, onClientError: (err: Error) => void): (raw: Socket) => void {
  const server = tls().createServer(options, (socket) => {
    inheritPeer((socket as TLSSocket & { _parent: Socket })._parent, socket);
    onSecure(socket);
  });
  server.on('tlsClientError', onClientError);
  return (raw) => server.emit('connection', raw);
}
