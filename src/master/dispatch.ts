import net, { type Server, type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { HttpLimits } from '../http/limits.js';
import { refuseOverloaded, refuseShuttingDown } from '../http/overload.js';
import { type RequestWaitOptions, waitForRequest } from './request-wait.js';
import type { Listener } from './listeners.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * The sync class's hand-off: the master accepts on the listeners itself and passes each new
 * connection, once its request has arrived (request-wait.ts), to a worker that has said it is
 * idle. While every worker is busy, connections wait here, in arrival order, and go to the first
 * worker that becomes idle. Neither the kernel's shared accept queue (an event-loop worker accepts,
 * in batches, whenever its loop turns, even in the middle of other requests) nor node:cluster's
 * round-robin (in turn, busy or not) does that.
 */
export class SyncDispatcher {
  private readonly servers: Server[] = [];
  /** Per listener: how long and how far a new connection's request is waited for. */
  private readonly requestWaits: RequestWaitOptions[] = [];
  /** Accepted connections whose request is still arriving. */
  private readonly reading = new Set<Socket>();
  /** Connections whose request arrived that no worker has taken yet; nothing more is read from them here. */
  private readonly waiting: Array<{ socket: Socket; listener: number; bytes: Buffer }> = [];
  /** Workers that said they are idle, longest idle first. */
  private readonly idle: WorkerProcess[] = [];
  private stopped = false;

  constructor(
    private readonly log: Logger,
    private readonly limits: HttpLimits,
    /** --proxy-protocol. */
    private readonly proxyProtocol: boolean,
    /** Beyond this many held connections, new ones get a fast 503 (Gunicorn's default backlog). */
    private readonly maxWaiting = 2048,
  ) {}

  start(listeners: Listener[], backlog?: number): void {
    listeners.forEach((listener, index) => {
      this.requestWaits.push({
        plainHttp: listener.scheme === 'http',
        proxyHeader: this.proxyProtocol,
        limits: this.limits,
        timeoutMs: this.limits.headerTimeout,
        bodyTimeoutMs: this.limits.requestTimeout,
      });
      // noDelay here too: the option stays on the socket the worker receives. A client's FIN must
      // not close our side: the worker still answers what came before it.
      const server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (socket) =>
        this.onConnection(socket, index),
      );
      server.on('error', (err) => this.log.error({ err: err.message }, 'Accept failed on %s', listener.url));
      // A raw bound handle: listen() uses it unchanged, so the port the workers know stays the same.
      server.listen(listener.handle, backlog);
      this.servers.push(server);
    });
  }

  private onConnection(socket: Socket, listener: number): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    if (this.reading.size + this.waiting.length >= this.maxWaiting) {
      refuseOverloaded(socket);
      return;
    }
    this.reading.add(socket);
    waitForRequest(socket, this.requestWaits[listener]!, (outcome) => {
      if (!this.reading.delete(socket)) return; // stopped meanwhile
      if (outcome.kind === 'arrived') {
        this.waiting.push({ socket, listener, bytes: outcome.bytes });
        this.handOut();
        if (this.waiting.length > 0) this.log.debug('%d request(s) wait for an idle worker', this.waiting.length);
      } else if (outcome.kind === 'timeout' && outcome.sentAny) void this.refuseSlow(socket, outcome.part);
      else socket.destroy();
    });
  }

  /** A head or a body still incomplete after its timeout: 408, as a worker would answer it. */
  private async refuseSlow(socket: Socket, part: 'head' | 'body'): Promise<void> {
    // Loaded on the first such client: the master has no other use for the HTTP modules.
    const [{ headerTimedOut, bodyTimedOut }, { refuseAndClose, rejectionLogFields }] = await Promise.all([
      import('../http/timeouts.js'),
      import('../http/reject.js'),
    ]);
    const r = part === 'head' ? headerTimedOut(this.limits.headerTimeout) : bodyTimedOut(this.limits.requestTimeout);
    this.log.info(rejectionLogFields(r, socket), `Refused request: ${r.status} ${r.reason}`);
    refuseAndClose(socket, r);
  }

  /** The worker finished its connection (or just booted) and can take the next one. */
  workerIdle(w: WorkerProcess): void {
    if (!this.idle.includes(w)) this.idle.push(w);
    this.handOut();
  }

  workerGone(w: WorkerProcess): void {
    const at = this.idle.indexOf(w);
    if (at >= 0) this.idle.splice(at, 1);
  }

  private handOut(): void {
    while (this.waiting.length > 0 && this.idle.length > 0) {
      const w = this.idle.shift()!;
      if (w.state === 'stopping' || !w.child.connected) continue;
      const next = this.waiting.shift()!;
      if (next.socket.destroyed) {
        this.idle.unshift(w);
        continue;
      }
      try {
        const message = { t: 'conn', listener: next.listener, bytes: next.bytes.toString('latin1') } as const;
        w.child.send(message, next.socket, (err) => {
          // The worker died with the connection in flight: it is lost, like with a crash mid-request.
          if (err) next.socket.destroy();
        });
      } catch {
        this.waiting.unshift(next); // the channel closed under us: another worker takes it
      }
    }
  }

  /**
   * Stop handing out: connections still waiting are answered 503 (their requests never ran), those
   * whose request is still arriving are closed. `closeSockets`: stop accepting too, so
   * that new connections are refused (false while a USR2 successor shares a unix socket's path,
   * which closing would remove).
   */
  stop(closeSockets = true): void {
    this.stopped = true;
    if (closeSockets) for (const server of this.servers.splice(0)) server.close();
    for (const { socket } of this.waiting.splice(0)) refuseShuttingDown(socket);
    for (const socket of this.reading) socket.destroy();
    this.reading.clear();
    this.idle.length = 0;
  }
}
