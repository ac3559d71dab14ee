import { Worker } from 'node:worker_threads';
import { compileCacheEnv } from '../compile-cache.js';
import { AppLoadError } from '../errors.js';
import type { Logger } from '../log/error-log.js';
import {
  decodeFromThread,
  encodeToThread,
  endsExchange,
  type FromThread,
  type FromThreadWire,
  type ThreadBoot,
  type ThreadStart,
  type ToThread,
  type ToThreadWire,
} from './thread-messages.js';
import { CrashBackoff, type BackoffPolicy } from '../supervision/backoff.js';
import { ClaimCells, nextRequestId } from './thread-claim.js';
import { Outbox } from './thread-outbox.js';
import { monotonicNow, watchForBlockedLoops } from '../supervision/blocked-loop.js';
import { settleWithin } from '../supervision/settle-within.js';

const RUNNER = new URL('./thread-runner.js', import.meta.url);
/**
 * Requests a busy thread may hold ahead of time (thread-claim.ts). More makes fewer, larger messages
 * under load; a thread that stays busy long has them taken back by the first thread that frees up.
 */
const AHEAD_PER_THREAD = 8;
/**
 * Each app thread has a heap of its own, and V8 lets a young generation grow to tens of MB per heap,
 * which N threads then multiply. A request's garbage dies young and small, so a small young
 * generation costs no throughput: measured with a CPU-bound app, `-w 1 --threads 2` held 154 MB
 * against 175 MB at V8's default, at the same req/s. A user who sized it (`--max-semi-space-size`)
 * keeps their own.
 */
const THREAD_LIMITS = /semi[-_]space/.test(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`)
  ? {}
  : { maxYoungGenerationSizeMb: 4 };
/** Threads respawn faster than worker processes: a thread that lived 5 s proved itself. */
const THREAD_BACKOFF: BackoffPolicy = { provenAfterMs: 5_000, firstDelayMs: 100, maxDelayMs: 10_000 };

/** One request, seen from the pool; the main thread's side of it (thread-forward.ts) implements it. */
export interface Exchange {
  readonly id: number;
  /** A message from the thread about this exchange. */
  onMessage(m: FromThread): void;
  /** The thread died with this exchange in hand. */
  onFail(): void;
}

type Outgoing = { message: ToThread; transfer: ArrayBuffer[] };
type Open = Extract<ToThread, { t: 'open' }>;

interface Slot {
  worker: Worker;
  /** Kept: worker.threadId reads -1 once the thread has exited. */
  threadId: number;
  ready: boolean;
  bornAt: number;
  /** When the thread last showed its event loop turning (any message counts). */
  lastBeat: number;
  /** The exchange in hand: a thread runs one request at a time, like a Gunicorn gthread thread. */
  current: Exchange | null;
  /** Requests handed to the thread ahead of time, to start in turn once `current` ends (thread-claim.ts). */
  ahead: Ahead[];
  claims: ClaimCells;
  outbox: Outbox<ToThreadWire>;
}

interface Ahead {
  exchange: Exchange;
  open: Open;
  cell: number;
}

interface Waiting {
  exchange: Exchange;
  /** Messages for the thread, held until one is free: the head, then body chunks (at most a window). */
  messages: Outgoing[];
}

/**
 * The worker_threads of one `thread` worker process. Each request goes to an idle thread; while
 * every thread is busy, a request with no body to follow is handed to one of them ahead of time
 * (a few per thread), and the rest wait here in arrival order for the first thread that frees up. A
 * thread that frees up with nothing waiting takes back another's request handed ahead, if that one
 * has not started it. A thread that dies, or whose app fails to load, is replaced; the process stays up.
 */
export class ThreadPool {
  private readonly slots = new Set<Slot>();
  private readonly waiting: Waiting[] = [];
  /** Exchanges in a thread, by id: where the thread's replies go. */
  private readonly active = new Map<number, { exchange: Exchange; slot: Slot }>();
  private nextId = 1;
  private readonly backoff = new CrashBackoff(THREAD_BACKOFF);
  private stopping = false;
  private respawnTimer: NodeJS.Timeout | null = null;
  private timeoutCheck: NodeJS.Timeout | null = null;
  private booted!: { resolve: () => void; reject: (err: Error) => void };
  private bootFailures = 0;
  private hasBooted = false;

  constructor(
    private readonly size: number,
    private readonly boot: ThreadBoot,
    private readonly log: Logger,
  ) {}

  /** Resolves once one thread has loaded the app; rejects if every first thread failed to. */
  start(): Promise<void> {
    const booted = new Promise<void>((resolve, reject) => (this.booted = { resolve, reject }));
    const timeout = this.boot.settings.timeout * 1000;
    if (timeout > 0) {
      this.timeoutCheck = watchForBlockedLoops({
        everyMs: Math.min(1000, timeout / 2),
        timeoutMs: () => timeout,
        watched: () => [...this.slots].filter((slot) => slot.ready),
        onBlocked: (slot) => this.replaceBlockedThread(slot, timeout),
      });
      this.timeoutCheck.unref();
    }
    for (let i = 0; i < this.size; i++) this.spawn();
    return booted;
  }

  newId(): number {
    const id = this.nextId;
    this.nextId = nextRequestId(id);
    return id;
  }

  /**
   * A new request (an `open` message): to an idle thread now, ahead of time to a busy one, or
   * queued. Body chunks follow through `send`.
   */
  open(exchange: Exchange, message: Open, transfer: ArrayBuffer[] = []): void {
    const slot = this.idleSlot();
    const out = { message, transfer };
    if (slot) this.assign(slot, exchange, [out]);
    else if (!this.waiting.length && goesAhead(message) && this.handAhead(exchange, message)) return;
    else this.waiting.push({ exchange, messages: [out] });
  }

  /** A message about an open exchange; `transfer`: ArrayBuffers that move to the thread. */
  send(exchange: Exchange, message: ToThread, transfer: ArrayBuffer[] = []): void {
    const running = this.active.get(exchange.id);
    if (running) {
      const { slot } = running;
      // The client left before the thread started it: it never needs to.
      if (message.t === 'abort' && this.takeBack(slot, exchange)) {
        this.log.debug('Request %d dropped before it started: its client left', exchange.id);
        return;
      }
      this.post(slot, message, transfer);
      return;
    }
    const queued = this.waiting.find((w) => w.exchange === exchange);
    if (!queued) return;
    // A request aborted before any thread took it needs no thread at all.
    if (message.t === 'abort') this.waiting.splice(this.waiting.indexOf(queued), 1);
    else queued.messages.push({ message, transfer });
  }

  private idleSlot(): Slot | undefined {
    for (const slot of this.slots) if (slot.ready && !slot.current) return slot;
    return undefined;
  }

  private assign(slot: Slot, exchange: Exchange, messages: Outgoing[]): void {
    slot.current = exchange;
    this.active.set(exchange.id, { exchange, slot });
    for (const m of messages) this.post(slot, m.message, m.transfer);
  }

  private post(slot: Slot, message: ToThread, transfer: ArrayBuffer[] = []): void {
    slot.outbox.add(encodeToThread(message), transfer);
  }

  /** Hands a bodiless request to the busy thread with the fewest ahead; false when every one is full. */
  private handAhead(exchange: Exchange, open: Open): boolean {
    let slot: Slot | undefined;
    for (const s of this.slots)
      if (s.ready && s.current && s.ahead.length < AHEAD_PER_THREAD && (!slot || s.ahead.length < slot.ahead.length))
        slot = s;
    const cell = slot ? slot.claims.offer(exchange.id) : -1;
    if (!slot || cell < 0) return false;
    slot.ahead.push({ exchange, open, cell });
    this.active.set(exchange.id, { exchange, slot });
    this.log.debug('Request %d handed ahead to busy thread %d', exchange.id, slot.threadId);
    open.ahead = cell;
    this.post(slot, open);
    open.ahead = undefined; // taken back, it is posted again as an ordinary open
    return true;
  }

  /** Takes `exchange` back from `slot`'s requests ahead, unless the thread has started it. */
  private takeBack(slot: Slot, exchange: Exchange): boolean {
    const i = slot.ahead.findIndex((a) => a.exchange === exchange);
    if (i < 0 || !slot.claims.take(slot.ahead[i]!.cell, exchange.id)) return false;
    slot.ahead.splice(i, 1);
    this.active.delete(exchange.id);
    return true;
  }

  /** `slot`'s thread ended its exchange: it goes on with the next it holds ahead, or takes one. */
  private onExchangeEnd(slot: Slot): void {
    slot.current = slot.ahead.shift()?.exchange ?? null;
    if (!slot.current) {
      this.takeNext(slot);
      return;
    }
    // Keep it supplied, in arrival order: only while the longest-waiting request can go ahead.
    for (let next = this.waiting[0]; next && next.messages.length === 1; next = this.waiting[0]) {
      const open = next.messages[0]!.message;
      if (!goesAhead(open) || !this.handAhead(next.exchange, open as Open)) break;
      this.waiting.shift();
    }
  }

  /** An idle thread: the longest-waiting request, or one handed ahead to a busy thread that has not started it. */
  private takeNext(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) {
      this.assign(slot, next.exchange, next.messages);
      return;
    }
    for (const busy of this.slots) {
      // The last one handed ahead: the one its thread would have started last.
      const last = busy.ahead.at(-1);
      if (!last || !this.takeBack(busy, last.exchange)) continue;
      this.log.debug(
        'Request %d taken back from thread %d for thread %d',
        last.exchange.id,
        busy.threadId,
        slot.threadId,
      );
      this.assign(slot, last.exchange, [{ message: last.open, transfer: [] }]);
      return;
    }
  }

  private spawn(): void {
    const claims = new ClaimCells(AHEAD_PER_THREAD);
    const workerData: ThreadStart = { ...this.boot, claim: claims.buffer };
    // The worker's compile cache reaches a thread only through the thread's own environment (compile-cache.ts).
    const env = { ...process.env, ...compileCacheEnv() };
    const worker = new Worker(RUNNER, { workerData, resourceLimits: THREAD_LIMITS, env });
    const slot: Slot = {
      worker,
      threadId: worker.threadId,
      ready: false,
      bornAt: Date.now(),
      lastBeat: monotonicNow(),
      current: null,
      ahead: [],
      claims,
      outbox: new Outbox<ToThreadWire>((wires, transfer) => worker.postMessage(wires, transfer)),
    };
    this.slots.add(slot);
    worker.on('message', (wires: FromThreadWire[]) => {
      for (const wire of wires) this.onMessage(slot, decodeFromThread(wire));
    });
    worker.on('error', (err) =>
      this.log.error(
        { err: { message: err.message, stack: err.stack } },
        'Thread %d died: uncaught exception',
        slot.threadId,
      ),
    );
    worker.on('exit', (code) => this.onExit(slot, code));
  }

  private onMessage(slot: Slot, m: FromThread): void {
    slot.lastBeat = monotonicNow();
    if ('id' in m) {
      const running = this.active.get(m.id);
      if (!running) return;
      if (endsExchange(m)) {
        this.active.delete(m.id);
        running.exchange.onMessage(m);
        this.onExchangeEnd(slot);
      } else running.exchange.onMessage(m);
    } else if (m.t === 'ready') {
      slot.ready = true;
      this.hasBooted = true;
      this.booted.resolve();
      this.log.debug('Thread %d ready', slot.threadId);
      this.takeNext(slot);
    } else if (m.t === 'load-error') {
      if (!this.hasBooted && ++this.bootFailures >= this.size) this.booted.reject(new AppLoadError(m.code, m.message));
      else this.log.error('Thread %d could not load the app: %s', slot.threadId, m.message);
    }
  }

  private onExit(slot: Slot, code: number): void {
    this.slots.delete(slot);
    const lost = slot.current;
    if (lost) {
      this.active.delete(lost.id);
      lost.onFail();
    }
    // Those it had not started wait for another thread, first in line; an idle one takes them now.
    for (const { exchange, open, cell } of slot.ahead.splice(0).reverse()) {
      this.active.delete(exchange.id);
      if (!this.stopping && slot.claims.take(cell, exchange.id))
        this.waiting.unshift({ exchange, messages: [{ message: open, transfer: [] }] });
      else exchange.onFail();
    }
    for (let idle = this.idleSlot(); idle && this.waiting.length > 0; idle = this.idleSlot()) this.takeNext(idle);
    if (this.stopping || (!this.hasBooted && this.bootFailures >= this.size)) return;
    this.log.warn('Thread %d exited with code %d; replacing it', slot.threadId, code);
    const delay = this.backoff.afterDeath(Date.now() - slot.bornAt);
    if (delay === 0) this.spawn();
    else if (!this.respawnTimer) {
      this.respawnTimer = setTimeout(() => {
        this.respawnTimer = null;
        for (let n = this.slots.size; n < this.size && !this.stopping; n++) this.spawn();
      }, delay);
    }
  }

  /**
   * `--timeout`, per thread: an app thread whose event loop has been blocked that long (no
   * heartbeat) is ended and replaced, like the master does with a blocked worker process; the request
   * it held gets a 500. A thread merely awaiting I/O keeps beating and is left alone.
   */
  private replaceBlockedThread(slot: Slot, timeout: number): void {
    slot.ready = false;
    this.log.error(
      'THREAD TIMEOUT (thread %d): no heartbeat for %d s, its event loop is blocked; replacing it',
      slot.threadId,
      timeout / 1000,
    );
    void slot.worker.terminate();
  }

  /** A graceful stop begins: every thread closes its WebSockets (1001) and keep-alive tunnels. */
  drain(): void {
    for (const slot of this.slots) this.post(slot, { t: 'drain' });
  }

  /**
   * Once no request is left: each thread runs its app's shutdown and exits, by `deadline` (epoch ms),
   * when every thread still running is ended.
   */
  async stop(deadline: number): Promise<void> {
    this.stopping = true;
    if (this.timeoutCheck) clearInterval(this.timeoutCheck);
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    for (const w of this.waiting.splice(0)) w.exchange.onFail();
    const slots = [...this.slots];
    const exited = slots.map((slot) => new Promise((resolve) => slot.worker.once('exit', resolve)));
    // A thread's own bound ends a little before this one, so that it logs its app's overrun itself.
    const left = deadline - Date.now();
    const ms = Math.max(0, left - Math.min(200, left / 10));
    for (const slot of slots) {
      // A thread still loading its app has no shutdown to run yet.
      if (!slot.ready) void slot.worker.terminate();
      else {
        this.post(slot, { t: 'shutdown', ms });
        slot.outbox.flush();
      }
    }
    if (!(await settleWithin(Promise.all(exited), deadline - Date.now())).done)
      for (const slot of slots)
        if (slot.worker.threadId !== -1)
          this.log.warn(
            "Thread %d has not ended by --graceful-timeout (its app's shutdown overran, or its event loop is blocked); ending it",
            slot.threadId,
          );
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

/** Only a request whose every message is its `open` can be handed ahead: taken back, it is posted again unchanged. */
const goesAhead = (m: ToThread): boolean => m.t === 'open' && m.end === true && !m.chunk && !m.head.upgrade;
