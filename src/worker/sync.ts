import { Socket } from 'node:net';
import { protocolFor } from './hosted.js';
import type { ProtocolServer } from '../http/protocol-server.js';
import type { MasterMessage, WorkerMessage } from './ipc-messages.js';
import type { WorkerClass, WorkerContext } from './types.js';
import { protocolOptions, syncWorkerLimits, waitForNoConnections } from './async.js';
import { SendWatch } from '../http/timeouts.js';
import { edgeFor, edgeSettings } from './edge.js';
import { refuseShuttingDown } from '../http/overload.js';

/**
 * One connection at a time, one request per connection (answered with `Connection: close`), like
 * Gunicorn's sync worker. The worker never accepts: the master hands it a connection only after it
 * has said it is idle (master/dispatch.ts), so a handler that blocks here delays nobody else.
 */
export class SyncWorker implements WorkerClass {
  private readonly protocols: ProtocolServer[] = [];
  /** Per listener: PROXY protocol and TLS, then the protocol server. */
  private readonly edges: Array<(socket: Socket) => void> = [];
  private current: Socket | null = null;
  /**
   * While the current connection's answer waits for its client: --send-timeout (at most --timeout,
   * async.ts syncWorkerLimits) on every interface, node's included. A client that never reads its
   * answer held this worker, the server's whole capacity for `-w` such clients, for ever: node:http
   * ends a response only once its last byte is with the kernel, and the loop stays free, so
   * --timeout never fired. Gunicorn's worker, blocked in send(), is killed at its timeout.
   */
  private sendCheck: NodeJS.Timeout | null = null;
  private sendTimeout = 0;
  /**
   * Connections the master sent while this worker was busy: those it held when this worker was
   * about to stop (master/dispatch.ts handOff), served before the stop.
   */
  private readonly backlog: Array<{ socket: Socket; listener: number }> = [];
  /** Set by stop(): told once the current connection and the backlog are done. */
  private onDone: (() => void) | null = null;

  constructor(private readonly ctx: WorkerContext) {}

  async start(): Promise<void> {
    this.sendTimeout = syncWorkerLimits(this.ctx.boot.settings).sendTimeout;
    // HTTP/2 multiplexes many requests on one connection, which is not what a sync worker is for.
    const edge = { ...edgeSettings(this.ctx.boot.settings, this.ctx.log, undefined, this.ctx.runtime), http2: false };
    for (const listener of this.ctx.boot.listeners) {
      const protocol = protocolFor(
        this.ctx.app,
        protocolOptions(this.ctx.boot.settings, this.ctx.log, listener.scheme, this.ctx.runtime),
      );
      // Draining from the start is exactly "one request per connection, then Connection: close".
      protocol.drain();
      this.ctx.observe?.(protocol);
      protocol.on('response', (...reqRes: unknown[]) => {
        this.ctx.onResponse(...reqRes);
        this.finished(this.current);
      });
      // A refusal ends the connection's business here: its answer lingers for the client to close
      // (up to LINGER_MS), which must not keep this worker from the next connection. Unless a request
      // is still with the app (a body refused under it): that one still finishes first.
      protocol.on('rejected', () => {
        if (protocol.inFlight === 0) this.finished(this.current);
      });
      if (this.ctx.onRequest) protocol.on('request', this.ctx.onRequest);
      this.protocols.push(protocol);
      this.edges.push(edgeFor(protocol, edge, listener));
    }
    process.on('message', (message: MasterMessage, handle: unknown) => {
      if (message?.t !== 'conn' || !(handle instanceof Socket)) return;
      // node reads a received socket at once: a client's reset while it waits in the backlog would
      // be an 'error' nobody listens to, and end the worker.
      handle.on('error', () => handle.destroy());
      // What the master read of the connection goes first, as if it had been read here.
      if (message.bytes) handle.unshift(Buffer.from(message.bytes, 'latin1'));
      this.ctx.runtime.unixPaths.handedOver(handle, message.listener);
      this.take(handle, message.listener);
    });
    this.send({ t: 'idle' });
  }

  private send(message: WorkerMessage): void {
    if (process.connected) process.send!(message);
  }

  private take(socket: Socket, listener: number): void {
    if (this.current) {
      this.backlog.push({ socket, listener });
      return;
    }
    // Gone while it waited: its 'close' has passed, and would never say it is done.
    if (socket.destroyed) return this.next();
    this.current = socket;
    socket.once('close', () => this.finished(socket));
    this.watchSends(socket);
    this.edges[listener]!(socket);
  }

  /** Cuts `socket` once bytes of its answer have waited --send-timeout for the client (SendWatch). */
  private watchSends(socket: Socket): void {
    if (this.sendTimeout <= 0) return;
    const watch = new SendWatch(socket, this.sendTimeout, () => socket.destroy());
    // On the raw socket, under TLS too: what waits there is the answer, encrypted.
    this.sendCheck = setInterval(
      () => {
        if (socket.writableLength > 0) watch.start();
      },
      Math.min(this.sendTimeout, 1000),
    );
    this.sendCheck.unref();
  }

  /** The response is out (or the client left): this worker can take the next connection. */
  private finished(socket: Socket | null): void {
    if (!socket || socket !== this.current) return;
    this.current = null;
    if (this.sendCheck) clearInterval(this.sendCheck);
    this.sendCheck = null;
    this.next();
  }

  private next(): void {
    const next = this.backlog.shift();
    if (next) this.take(next.socket, next.listener);
    else if (this.onDone) this.onDone();
    else this.send({ t: 'idle' });
  }

  async stop(deadline?: number): Promise<void> {
    // Connections not started when the time is out are answered 503 (never run, so safe to retry)
    // before the master's SIGKILL would close them without a word.
    const timer =
      deadline === undefined
        ? undefined
        : setTimeout(() => {
            for (const { socket, listener } of this.backlog.splice(0))
              refuseShuttingDown(socket, this.ctx.boot.listeners[listener]?.scheme === 'https');
          }, deadline - Date.now());
    if (this.current) await new Promise<void>((resolve) => (this.onDone = resolve));
    clearTimeout(timer);
    await Promise.all(this.protocols.map(waitForNoConnections));
  }
}
