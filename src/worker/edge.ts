import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { Http2ProtocolServer } from '../http/http2.js';
import { withHealthCheckNode } from '../http/health.js';
import type { ProtocolServer } from '../http/protocol.js';
import { acceptProxyProtocol } from '../http/proxy-protocol.js';
import type { HttpLimits } from '../http/limits.js';
import { markUnixPeer, setForwardedAllowIps } from '../http/proxy.js';
import { tlsLayer, tlsOptions, type TlsSettings } from '../http/tls.js';
import type { HostedApp, NodeListener } from '../interfaces/detect.js';
import { fetchOnCompat } from '../interfaces/fetch-compat.js';
import type { Logger } from '../log/logger.js';

/**
 * What happens to an accepted socket before HTTP: the PROXY protocol header first (it precedes
 * everything the client sent), then TLS, then the protocol server.
 */
export function networkEdge(
  protocol: ProtocolServer,
  opts: { tls: TlsOptions | null; http2: boolean; proxyProtocol: boolean; unix: boolean; log: Logger },
): (socket: Socket) => void {
  const edge = proxyThenTls(protocol, opts);
  if (!opts.unix) return edge;
  return (socket) => {
    markUnixPeer(socket);
    edge(socket);
  };
}

function proxyThenTls(protocol: ProtocolServer, opts: { tls: TlsOptions | null; http2: boolean; proxyProtocol: boolean; log: Logger }): (socket: Socket) => void {
  const clientError = (err: Error) => opts.log.debug({ err: err.message }, 'TLS handshake failed');
  // The HTTP/2 server does its own TLS (it must see ALPN). A TLS layer takes a paused socket's
  // put-back bytes itself; only plain HTTP needs the socket resumed.
  const inner = opts.http2
    ? (socket: Socket) => protocol.accept(socket)
    : opts.tls
      ? tlsLayer(opts.tls, (s) => protocol.accept(s), clientError)
      : plain(protocol);
  if (!opts.proxyProtocol) return inner;
  return (socket) =>
    acceptProxyProtocol(socket, inner, (err, s) => opts.log.info({ peer: s.remoteAddress }, 'Closing a connection with a bad PROXY protocol header: %s', err.message));
}

function plain(protocol: ProtocolServer): (socket: Socket) => void {
  return (socket) => {
    protocol.accept(socket);
    // A socket paused by the PROXY protocol reader, its leftover bytes put back.
    if (socket.isPaused()) socket.resume();
  };
}

/** The edge settings of a worker, read once from its boot settings. */
export interface EdgeSettings {
  tls: TlsOptions | null;
  /** HTTP/2 needs TLS (ALPN) and a node or fetch app in this thread; others get HTTP/1.1 over TLS. */
  http2: boolean;
  proxyProtocol: boolean;
  log: Logger;
}

export function edgeSettings(settings: Record<string, unknown>, log: Logger, app: HostedApp | undefined): EdgeSettings {
  setForwardedAllowIps(settings.forwardedAllowIps as string[]);
  const tls = tlsOptions(settings as unknown as TlsSettings);
  const http2Capable = app?.kind === 'node' || app?.kind === 'fetch';
  return { tls, http2: Boolean(tls && settings.http2 && http2Capable), proxyProtocol: settings.proxyProtocol as boolean, log };
}

/** The edge for one listener: PROXY protocol, TLS, then `protocol`. */
export function edgeFor(protocol: ProtocolServer, edge: EdgeSettings, listener: { address: string }): (socket: Socket) => void {
  return networkEdge(protocol, { ...edge, unix: listener.address.startsWith('unix:') });
}

export function http2Protocol(app: Extract<HostedApp, { kind: 'node' | 'fetch' }>, tls: TlsOptions, opts: { keepAliveTimeout: number; limits: HttpLimits; log: Logger }): ProtocolServer {
  const listener = withHealthCheckNode((app.kind === 'node' ? app.listener : fetchOnCompat(app.fetch)) as NodeListener);
  return new Http2ProtocolServer(listener as never, {
    tls,
    keepAliveTimeout: opts.keepAliveTimeout,
    headerTimeout: opts.limits.headerTimeout,
    onError: (err, req) => opts.log.error({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, `Error handling request ${req.method} ${req.url}`),
    onClientError: (err) => opts.log.debug({ err: err.message }, 'TLS handshake failed'),
  });
}
