import net, { type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { HttpLimits } from '../http/limits.js';
import { refuseOverloaded, refuseShuttingDown } from '../http/overload.js';
import {
  MAX_HELD_BYTES,
  type RequestWait,
  type RequestWaitOptions,
  readAtOnce,
  waitForRequest,
} from './request-wait.js';
import {
  type RawHandle,
  closeUnacknowledged,
  serverHandle,
  setAccepting,
  startReading,
  stopReading,
} from './node-handles.js';
import type { Listener } from './listeners.js';
import type { WorkerProcess } from './worker-process.js';
import { SYNC_HOLD } from './open-file-limit.js';

const CROWDED_WARNING_MS = 60_000;
/** The hold of a connection whose request came whole with it: settled before it is looked at. */
const PLACEHOLDER: RequestWait = { handOnNow: () => {}, sentAny: () => true };

/** A connection whose request arrived, waiting for a worker. */
interface Held {
  socket: Socket;
  listener: number;
  /** What was read of it, handed to the worker with it. */
  bytes: Buffer;
  /** Stops watching it for its client leaving (watchWhileWaiting); nothing more is read here after. */
  unwatch: () => void;
}

/**
 * The sync class's hand-off: the master accepts on the listeners itself and passes each new
 * connection, once its request has arrived (request-wait.ts), to a worker that has said it is
 * idle. While every worker is busy, connections wait here, in arrival order, and go to the first
 * worker that becomes idle. Neither the kernel's shared accept queue (an event-loop worker accepts,
 * in batches, whenever its loop turns, even in the middle of other requests) nor node:cluster's
 * round-robin (in turn, busy or not) does that.
 */
export class SyncDispatcher {
  /** The handles accepted on, one per listener, which can stop accepting without closing. */
  private readonly handles: RawHandle[] = [];
  /** Per listener: how long and how far a new connection's request is waited for. */
  private readonly requestWaits: RequestWaitOptions[] = [];
  /** Accepted connections whose request is still arriving, each with the way to stop waiting for it. */
  private readonly reading = new Map<Socket, RequestWait>();
  /** Connections whose request arrived that no worker has taken yet, read only to see a client leave. */
  private readonly waiting: Held[] = [];
  /** Workers that said they are idle, longest idle first. */
  private readonly idle: WorkerProcess[] = [];
  private stopped = false;
  /** When closeOldestSilent() last said so: once a minute, not for every connection of a flood. */
  private crowdedWarnedAt = Number.NEGATIVE_INFINITY;
  /** Paused until a worker first says it is idle (holdUntilWorker). */
  private heldForWorker = false;

  constructor(
    private readonly log: Logger,
    private readonly limits: HttpLimits,
    /** --proxy-protocol. */
    private readonly proxyProtocol: boolean,
    /**
     * The most connections held here, still sending their request or waiting for a worker; a new
     * one past it takes the place of a silent one, else gets a fast 503 (syncHoldLimit()). Not
     * --backlog: that is the kernel's queue, where connections past it wait, not refused.
     */
    private readonly maxWaiting = SYNC_HOLD,
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
      // The listener's descriptor, through a handle opened on it, which can pause (node-handles.ts):
      // the one the listener made listen (TCP), or one node:net opens on its fd (a unix socket). The
      // server is never closed: the listener closes the descriptor (listeners.ts).
      server.listen(listener.listening, backlog);
      const handle = serverHandle(server);
      if (handle) this.handles.push(handle);
    });
  }

  /**
   * Stops accepting, leaving the sockets open and listening: new connections wait in the kernel's
   * queue for the next to accept, a USR2 successor sharing the sockets or this master's next workers.
   */
  pause(): void {
    for (const handle of this.handles) {
      if (!setAccepting(handle, false)) this.log.warn('This Node.js cannot pause accepting; connections may wait');
    }
  }

  /**
   * A USR2 master beside its predecessor: connections stay in the kernel's queue for the old
   * master's ready workers until one of this master's own is ready, instead of waiting here through
   * its boot (and getting 503 if its new code never loads).
   */
  holdUntilWorker(): void {
    this.heldForWorker = true;
    this.pause();
  }

  /** Accepts again after pause(), unless stopped. */
  resume(): void {
    if (this.stopped) return;
    for (const handle of this.handles) setAccepting(handle, true);
  }

  private onConnection(socket: Socket, listener: number): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    if (this.reading.size + this.waiting.length >= this.maxWaiting && !this.closeOldestSilent()) {
      refuseOverloaded(socket, !this.requestWaits[listener]!.plainHttp);
      return;
    }
    this.reading.set(socket, PLACEHOLDER); // replaced below, unless the whole request came with the connection
    const wait = waitForRequest(socket, this.requestWaits[listener]!, (outcome) => {
      if (!this.reading.delete(socket)) return; // stopped meanwhile
      if (outcome.kind === 'arrived') {
        const held: Held = { socket, listener, bytes: outcome.bytes, unwatch: () => {} };
        this.waiting.push(held);
        this.handOut();
        if (this.waiting.length > 0) this.log.debug('%d request(s) wait for an idle worker', this.waiting.length);
        if (this.waiting.at(-1) === held) this.watchWhileWaiting(held);
      } else if (outcome.kind === 'timeout' && outcome.sentAny) void this.refuseSlow(socket, outcome.part);
      else socket.destroy();
    });
    if (this.reading.has(socket)) this.reading.set(socket, wait);
  }

  /**
   * Makes room by closing the oldest connection that has sent nothing yet. Without it, one client
   * holding maxWaiting connections open without a byte sent got every other client a 503 for as long as it
   * liked (each for --header-timeout, then again). Only a silent one goes: a client part-way through
   * its head or a held body (a slow upload, a PROXY line before its request) is sending, and the
   * newest silent ones (whose bytes may simply not have been read yet) are the last to go. False:
   * none is silent, and the new connection gets the 503.
   */
  private closeOldestSilent(): boolean {
    for (const [socket, wait] of this.reading) {
      if (wait.sentAny()) continue;
      this.reading.delete(socket);
      socket.destroy();
      if (Date.now() - this.crowdedWarnedAt > CROWDED_WARNING_MS) {
        this.crowdedWarnedAt = Date.now();
        this.log.warn(
          'Holding %d connections: closing the oldest that has sent nothing, to take a new one',
          this.maxWaiting,
        );
      }
      return true;
    }
    return false;
  }

  /**
   * Reads a waiting connection again, only to see its client leave: unread, one that sent its
   * request and reset at once counted toward maxWaiting until a worker took it (a burst of 2,000
   * got 677 of the next 2,000 clients a 503) and cost that worker a hand-off. What else arrives goes
   * to the worker with its bytes, up to MAX_HELD_BYTES; the rest waits in the kernel, unwatched.
   * An end is no leaving: the client closed only its side, after its request, and waits for the
   * answer, which Gunicorn gives it (the worker reads the end again).
   */
  private watchWhileWaiting(held: Held): void {
    const { socket } = held;
    const onGone = () => {
      const at = this.waiting.indexOf(held);
      if (at >= 0) this.waiting.splice(at, 1);
    };
    // At once after each read, and at the end node reports: a reset right behind the bytes read
    // shows only to the next read, which node makes a turn of the loop later, or not at all when
    // libuv takes the hang-up for the end. False: nothing more to watch for.
    const readOn = (): boolean => {
      const more = readAtOnce(socket);
      if (more === 'reset') {
        onGone();
        socket.destroy();
        return false;
      }
      if (more instanceof Buffer) held.bytes = Buffer.concat([held.bytes, more]);
      return more !== 'end' && held.bytes.length < MAX_HELD_BYTES;
    };
    // Its end came with its request, or it holds all it may already.
    if (socket.readableEnded || held.bytes.length >= MAX_HELD_BYTES || !readOn()) return;
    const onData = (chunk: Buffer) => {
      held.bytes = Buffer.concat([held.bytes, chunk]);
      if (!readOn()) unwatch();
    };
    const onEnd = () => void readOn();
    const unwatch = () => {
      held.unwatch = () => {};
      socket.off('data', onData);
      socket.off('end', onEnd).off('error', onGone).off('close', onGone);
      socket.pause();
      stopReading(socket);
      // Read but not yet given out: the worker's too.
      const rest: Buffer | null = socket.read();
      if (rest) held.bytes = Buffer.concat([held.bytes, rest]);
    };
    held.unwatch = unwatch;
    socket.on('data', onData);
    // 'error' too, in the turn of the read that saw the reset: 'close' comes once the handle has
    // closed, after that turn's other events, an accept among them.
    socket.on('end', onEnd).on('error', onGone).on('close', onGone);
    if (!startReading(socket)) unwatch();
  }

  /** A head or a body still incomplete after its timeout: 408, as a worker would answer it. */
  private async refuseSlow(socket: Socket, part: 'head' | 'body'): Promise<void> {
    // Loaded on the first such client: the master has no other use for the HTTP modules.
    const [{ headerTimedOut, bodyTimedOut }, { refuseAndClose, rejectionLogFields }] = await Promise.all([
      import('../http/timeouts.js'),
      import('../http/reject.js'),
    ]);
    const r = part === 'head' ? headerTimedOut(this.limits.headerTimeout) : bodyTimedOut(this.limits);
    this.log.info(rejectionLogFields(r, socket), `Refused request: ${r.status} ${r.reason}`);
    refuseAndClose(socket, r);
  }

  /** The worker finished its connection (or just booted) and can take the next one. */
  workerIdle(w: WorkerProcess): void {
    if (this.heldForWorker && w.state !== 'stopping') {
      this.heldForWorker = false;
      this.resume();
    }
    if (!this.idle.includes(w)) this.idle.push(w);
    this.handOut();
  }

  workerGone(w: WorkerProcess): void {
    const at = this.idle.indexOf(w);
    if (at >= 0) this.idle.splice(at, 1);
    const lost = closeUnacknowledged(w.child);
    if (lost > 0)
      this.log.warn('Closed %d connection(s) sent to worker %d, which exited before taking them', lost, w.pid);
  }

  private handOut(): void {
    while (this.waiting.length > 0 && this.idle.length > 0) {
      const w = this.idle.shift()!;
      if (w.state === 'stopping' || !w.child.connected) continue;
      this.send(w, this.waiting.shift()!, () => this.idle.unshift(w));
    }
  }

  /** `notSent`: the connection was already gone, so `w` can take another. */
  private send(w: WorkerProcess, next: Held, notSent: () => void): void {
    if (next.socket.destroyed) return notSent();
    next.unwatch();
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

  /**
   * These workers are about to be told to stop (WINCH, or a TERM while a USR2 successor serves):
   * accepting pauses, and every connection held here goes to them at once, busy or not. A sync
   * worker queues what it gets while busy and serves it before it stops (the stop comes after, on
   * the same channel), so these requests are answered instead of refused; what it has not started
   * when its --graceful-timeout runs out it answers 503 (worker/sync.ts). With no worker ready to
   * take them (one still booting), they are answered 503 here.
   */
  handOff(workers: WorkerProcess[]): void {
    this.pause();
    for (const wait of [...this.reading.values()]) wait.handOnNow();
    const to = workers.filter((w) => w.state === 'ready' && w.child.connected);
    // Idle ones first: they start at once.
    to.sort((a, b) => Number(this.idle.includes(b)) - Number(this.idle.includes(a)));
    for (let i = 0; this.waiting.length > 0 && to.length > 0; i++) {
      const next = this.waiting.shift()!;
      this.send(to[i % to.length]!, next, () => {});
      if (this.waiting[0] === next) break; // the channels closed
    }
    for (const held of this.waiting.splice(0)) this.refuse(held);
    this.idle.length = 0;
  }

  /** 503, never run; a TLS client, which cannot read a plain-text answer, is closed. */
  private refuse({ socket, listener, unwatch }: Held): void {
    unwatch();
    refuseShuttingDown(socket, !this.requestWaits[listener]!.plainHttp);
  }

  /**
   * Stop for good: accepting stops (the listeners close the descriptors), connections still
   * waiting are answered 503 (their requests never ran), those whose request is still arriving
   * are closed.
   */
  stop(): void {
    this.pause();
    this.stopped = true;
    for (const held of this.waiting.splice(0)) this.refuse(held);
    for (const socket of this.reading.keys()) socket.destroy();
    this.reading.clear();
    this.idle.length = 0;
  }
}
