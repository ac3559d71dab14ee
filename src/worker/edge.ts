import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { withHealthCheckNode } from '../http/health.js';
import type { ProtocolServer } from '../http/protocol-server.js';
import { acceptProxyProtocol } from '../http/proxy-protocol.js';
import { httpLimits, type HttpLimits } from '../http/limits.js';
import { markUnixPeer, type TrustedPeers } from '../http/proxy.js';
import { markAccepted, tlsLayer, tlsOptions } from '../http/tls.js';
import type { HostedApp } from '../interfaces/detect.js';
import type { WorkerRuntime } from '../interfaces/runtime.js';
import type { Logger } from '../log/error-log.js';
import { logRefusals, logRequestFailure } from './hosted.js';
import type { BootSettings } from './boot.js';
import { compatListener } from './stand-ins.js';

/**
 * What happens to an accepted socket before HTTP: the PROXY protocol header first (it precedes
 * everything the client sent), then TLS, then the protocol server.
 */
export function networkEdge(
  protocol: ProtocolServer,
  opts: {
    tls: TlsOptions | null;
    headerTimeout: number;
    proxyProtocol: boolean;
    unix: boolean;
    log: Logger;
    trustedPeers: TrustedPeers;
  },
): (socket: Socket) => void {
  const edge = proxyThenTls(protocol, opts);
  if (!opts.unix) return edge;
  return (socket) => {
    markUnixPeer(socket);
    edge(socket);
  };
}

function proxyThenTls(
  protocol: ProtocolServer,
  opts: {
    tls: TlsOptions | null;
    headerTimeout: number;
    proxyProtocol: boolean;
    log: Logger;
    trustedPeers: TrustedPeers;
  },
): (socket: Socket) => void {
  // A TLS layer takes a paused socket's put-back bytes itself; only plain HTTP needs the socket
  // resumed. With --http2 the protocol server looks at ALPN and picks h2 or HTTP/1.1.
  const inner = opts.tls
    ? tlsLayer(opts.tls, (s) => protocol.accept(s), {
        headerTimeout: opts.headerTimeout,
        onFailure: (kind, detail, raw) => {
          opts.log.debug(
            { peer: raw.remoteAddress, err: detail },
            kind === 'timeout' ? 'TLS handshake timed out' : 'TLS handshake failed',
          );
          protocol.emit('tls-handshake-failed', kind);
        },
      })
    : plain(protocol);
  if (!opts.proxyProtocol) return inner;
  return (socket) => {
    // The --header-timeout clock starts now, before the PROXY header.
    markAccepted(socket);
    acceptProxyProtocol(
      socket,
      inner,
      (err, s) =>
        opts.log.info(
          { peer: s.remoteAddress },
          'Closing a connection with a bad PROXY protocol header: %s',
          err.message,
        ),
      opts.trustedPeers,
    );
  };
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
  /** --header-timeout in ms: it also bounds the TLS handshake, from the accept. */
  headerTimeout: number;
  /** --http2-max-concurrent-streams. */
  maxConcurrentStreams: number;
  log: Logger;
  /** --forwarded-allow-ips: the peers whose PROXY protocol header is read. */
  trustedPeers: TrustedPeers;
}

export function edgeSettings(
  settings: BootSettings,
  log: Logger,
  app: HostedApp | undefined,
  runtime: WorkerRuntime,
): EdgeSettings {
  const tls = tlsOptions(settings);
  const http2Capable = app?.kind === 'node' || app?.kind === 'fetch';
  const http2 = Boolean(tls && settings.http2 && http2Capable);
  return {
    // Only offer h2 in ALPN where it is served: a client that picked h2 must not get HTTP/1.1.
    tls: tls && { ...tls, ALPNProtocols: http2 ? ['h2', 'http/1.1'] : ['http/1.1'] },
    http2,
    proxyProtocol: settings.proxyProtocol,
    headerTimeout: httpLimits(settings).headerTimeout,
    maxConcurrentStreams: settings.http2MaxConcurrentStreams,
    log,
    trustedPeers: runtime.trustedPeers,
  };
}

/** The edge for one listener: PROXY protocol, TLS, then `protocol`. */
export function edgeFor(
  protocol: ProtocolServer,
  edge: EdgeSettings,
  listener: { address: string },
): (socket: Socket) => void {
  return networkEdge(protocol, { ...edge, unix: listener.address.startsWith('unix:') });
}

/**
 * The protocol server of an --http2 listener: h2 for connections whose ALPN chose it, `http1`
 * (the listener's ordinary HTTP/1.1 server, with its upgrades and limits) for the others.
 */
export async function http2Protocol(
  app: Extract<HostedApp, { kind: 'node' | 'fetch' }>,
  http1: ProtocolServer,
  opts: {
    keepAliveTimeout: number;
    limits: HttpLimits;
    log: Logger;
    maxConcurrentStreams: number;
    runtime: WorkerRuntime;
  },
): Promise<ProtocolServer> {
  // Imported here, not at the top: only a worker with an --http2 listener loads HTTP/2 (and, for a
  // node app, the fetch bridge is never loaded at all).
  const { Http2ProtocolServer } = await import('../http/http2.js');
  const appListener =
    app.kind === 'node'
      ? app.listener
      : (await import('../interfaces/fetch-compat.js')).fetchOnCompat(app, opts.runtime);
  // The health check answers h2 requests too: its wrapper only reads the URL and writes a head and a body.
  const listener = compatListener(withHealthCheckNode(opts.runtime.health, appListener));
  const server = new Http2ProtocolServer(listener, http1, {
    keepAliveTimeout: opts.keepAliveTimeout,
    limits: opts.limits,
    maxConcurrentStreams: opts.maxConcurrentStreams,
    onError: (err, req) => logRequestFailure(opts.log, err, req),
    onHeadTimeout: (socket) =>
      opts.log.debug(
        { peer: socket.remoteAddress },
        'HTTP/2 connection sent no request within --header-timeout of its accept',
      ),
  });
  return logRefusals(server, opts.log);
}
