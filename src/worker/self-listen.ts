import net from 'node:net';
import { AppLoadError, BindError } from '../errors.js';
import type { WorkerClass } from './types.js';

/**
 * Apps that listen themselves (PM2's cluster mode style): the module opens its own server at
 * import, say `app.listen(3000)`, and exports no app. In a node:cluster worker that listen goes
 * through the master's cluster machinery, which shares one socket among all workers (gserve sets
 * SCHED_NONE: the kernel spreads the connections, the master never accepts). gserve then only
 * supervises: signals, HUP, TERM draining and recycling apply like for any app.
 */

const appServers = new Set<net.Server>();
const nodeListen = net.Server.prototype.listen;

/** From now on, note every server that starts listening (gserve's own listen through _listen2, not here). */
export function watchAppListens(): void {
  if (net.Server.prototype.listen !== nodeListen) return;
  // listen() is overloaded: the replacement takes and passes on whatever arguments it gets.
  Reflect.set(net.Server.prototype, 'listen', function (this: net.Server, ...args: unknown[]): unknown {
    appServers.add(this);
    this.once('close', () => appServers.delete(this));
    return Reflect.apply(nodeListen, this, args);
  });
}

/** The app opened servers of its own. */
export const appListensItself = (): boolean => appServers.size > 0;

const NO_APP_CODES = new Set(['GSERVE_E_APP_ATTR', 'GSERVE_E_NOT_AN_APP']);

/** A module that exports no app but opened a server of its own: the PM2 cluster-mode style. */
export const listensInsteadOfExporting = (loadError: unknown): boolean =>
  loadError instanceof AppLoadError && NO_APP_CODES.has(loadError.code) && appListensItself();

/**
 * Closes the servers the app opened where it was loaded only to be checked (the master, for
 * --check-config and --preload), and stops watching: the port is each worker's to open, through
 * node:cluster.
 */
export async function closeAppServers(): Promise<void> {
  net.Server.prototype.listen = nodeListen; // the master's own servers are not the app's
  const servers = [...appServers];
  appServers.clear();
  await Promise.all(
    servers.map(async (s) => {
      // A listen still looking up its host binds later: closed once it has.
      if (await whenBound(s)) await new Promise<void>((resolve) => s.close(() => resolve()));
    }),
  );
}

/** Resolves once a server listens (true) or its listen failed (false). */
async function whenBound(s: net.Server): Promise<boolean> {
  return (await listenOutcome(s)) === null;
}

/** Resolves once a server listens (null) or its listen failed (the error). */
function listenOutcome(s: net.Server): Promise<Error | null> {
  if (s.listening) return Promise.resolve(null);
  return new Promise((resolve) => {
    s.once('listening', () => resolve(null));
    s.once('error', (err) => resolve(err));
  });
}

/**
 * Where the app's servers listen, once they do: ":3000", "/run/app.sock". A server whose listen
 * failed (its port taken) fails the boot, as a taken --bind does: gserve catching that error must
 * not turn the crash it would have been into a worker that serves nothing.
 */
async function addresses(): Promise<string[]> {
  const servers = [...appServers];
  const failures = (await Promise.all(servers.map(listenOutcome))).filter((e) => e !== null);
  if (failures.length > 0) throw listenFailed(failures[0]!);
  return servers
    .map((s) => s.address())
    .filter((a) => a !== null)
    .map((a) =>
      typeof a === 'string' ? a : `${a.address === '::' || a.address === '0.0.0.0' ? '' : a.address}:${a.port}`,
    );
}

export class SelfListeningWorker implements WorkerClass {
  constructor(
    private readonly announce: (addresses: string[]) => void,
    /** Idle keep-alive connections get this long to send a last request before they are closed. */
    private readonly keepAliveMs: number,
  ) {}

  async start(): Promise<void> {
    this.announce(await addresses());
  }

  /**
   * Stop accepting at once; answer what is in flight with `Connection: close`; close idle
   * keep-alive connections after one keep-alive period (closing them at once races with requests
   * already on the wire); resolve when every connection has ended.
   */
  async stop(): Promise<void> {
    const servers = [...appServers];
    await Promise.all(servers.map((server) => this.drain(server)));
  }

  private drain(server: net.Server): Promise<void> {
    // An http or https server (node ≥ 18.2) can close its idle keep-alive connections.
    if ('closeIdleConnections' in server && typeof server.closeIdleConnections === 'function') {
      const closeIdleConnections = server.closeIdleConnections;
      const closeIdle = () => Reflect.apply(closeIdleConnections, server, []);
      server.prependListener(
        'request',
        (_req: unknown, res: { shouldKeepAlive: boolean }) => (res.shouldKeepAlive = false),
      );
      const idle = setTimeout(closeIdle, this.keepAliveMs);
      idle.unref();
      server.once('close', () => clearTimeout(idle));
    }
    // net.Server's close, not http.Server's: that one would close idle connections right away.
    return new Promise((resolve) => net.Server.prototype.close.call(server, () => resolve()));
  }
}

function listenFailed(err: NodeJS.ErrnoException & { address?: string | null; port?: number }): BindError {
  // A port on every address comes with no address (null), as `:3000`; a unix socket with no port.
  const host = err.address && err.address !== '::' && err.address !== '0.0.0.0' ? err.address : '';
  const where = err.port ? ` at ${host}:${err.port}` : err.address ? ` at ${err.address}` : '';
  const fix =
    err.code === 'EADDRINUSE'
      ? 'Stop the other server using it, or change the port the app listens on'
      : err.code === 'EACCES'
        ? 'Use a port above 1023, or run with the needed privilege'
        : "Check the address the app's listen() is given";
  return new BindError(`The app's own server cannot listen${where}: ${err.code ?? err.message}. ${fix}.`);
}
