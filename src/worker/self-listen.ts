import net from 'node:net';
import type { WorkerClass } from './types.js';

/**
 * Apps that listen themselves (PM2's cluster mode style): the module opens its own server at
 * import, say `app.listen(3000)`, and exports no app. In a node:cluster worker that listen goes
 * through the master's cluster machinery, which shares one socket among all workers (gserve sets
 * SCHED_NONE: the kernel spreads the connections, the master never accepts). gserve then only
 * supervises: signals, HUP, TERM draining and recycling apply like for any app.
 */

const appServers = new Set<net.Server>();
let watching = false;

/** From now on, note every server that starts listening (gserve's own listen through _listen2, not here). */
export function watchAppListens(): void {
  if (watching) return;
  watching = true;
  const listen = net.Server.prototype.listen;
  // listen() is overloaded: the replacement takes and passes on whatever arguments it gets.
  Reflect.set(net.Server.prototype, 'listen', function (this: net.Server, ...args: unknown[]): unknown {
    appServers.add(this);
    this.once('close', () => appServers.delete(this));
    return Reflect.apply(listen, this, args);
  });
}

/** The app opened servers of its own. */
export const appListensItself = (): boolean => appServers.size > 0;

/** Where the app's servers listen, once they do: ":3000", "/run/app.sock". */
async function addresses(): Promise<string[]> {
  const servers = [...appServers];
  await Promise.all(
    servers.map((s) =>
      s.listening
        ? null
        : new Promise<void>((resolve) => {
            s.once('listening', resolve);
            s.once('error', () => resolve());
          }),
    ),
  );
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
