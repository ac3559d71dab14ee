import type { Server } from 'node:http';

/**
 * The metrics endpoint lives in the master, so its descriptors are the master's: a crowd of idle
 * or slow connections there could leave the master unable to fork a worker (EMFILE). Connections
 * past the cap are closed once they are accepted; a client that does not send its request
 * head in time, or idles between scrapes, is cut.
 */
export const METRICS_MAX_CONNECTIONS = 16;
export const METRICS_HEADERS_TIMEOUT_MS = 5_000;
export const METRICS_IDLE_TIMEOUT_MS = 10_000;

export function guardMetricsServer(server: Server): Server {
  server.maxConnections = METRICS_MAX_CONNECTIONS;
  server.headersTimeout = METRICS_HEADERS_TIMEOUT_MS;
  server.requestTimeout = METRICS_IDLE_TIMEOUT_MS;
  server.keepAliveTimeout = METRICS_HEADERS_TIMEOUT_MS;
  // headersTimeout is enforced on a periodic sweep; this also cuts a connection that never sends a byte.
  server.setTimeout(METRICS_HEADERS_TIMEOUT_MS, (socket) => socket.destroy());
  return server;
}
