import { Worker } from 'node:worker_threads';
import { AppLoadError } from '../errors.js';
import type { Logger } from '../log/error-log.js';
import {
  decodeFromThread,
  encodeToThread,
  endsExchange,
  type FromThread,
  type FromThreadWire,
  type ThreadBoot,
  type ToThread,
} from './thread-messages.js';
import { CrashBackoff, type BackoffPolicy } from '../supervision/backoff.js';
import { watchForBlockedLoops } from '../supervision/blocked-loop.js';

const RUNNER = new URL('./thread-runner.js', import.meta.url);
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
}

interface Waiting {
  exchange: Exchange;
  /** Messages for the thread, held until one is free: the head, then body chunks (at most a window). */
  messages: Outgoing[];
}

/**
 * The worker_threads of one `thread` worker process. Each request goes to an idle thread; while
 * every thread is busy, requests wait here in arrival order and go to the first thread that frees
 * up. A thread that dies, or whose app fails to load, is replaced; the process stays up.
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
    return this.nextId++;
  }

  /** A new request (an `open` message): to an idle thread now, or queued. Body chunks follow through `send`. */
  open(exchange: Exchange, message: Extract<ToThread, { t: 'open' }>, transfer: ArrayBuffer[] = []): void {
    const slot = this.idleSlot();
    const out = { message, transfer };
    if (slot) this.assign(slot, exchange, [out]);
    else this.waiting.push({ exchange, messages: [out] });
  }

  /** A message about an open exchange; `transfer`: ArrayBuffers that move to the thread. */
  send(exchange: Exchange, message: ToThread, transfer: ArrayBuffer[] = []): void {
    const running = this.active.get(exchange.id);
    if (running) {
      running.slot.worker.postMessage(encodeToThread(message), transfer);
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
    for (const m of messages) slot.worker.postMessage(encodeToThread(m.message), m.transfer);
  }

  private takeNext(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) this.assign(slot, next.exchange, next.messages);
  }

  private spawn(): void {
    const worker = new Worker(RUNNER, { workerData: this.boot });
    const slot: Slot = {
      worker,
      threadId: worker.threadId,
      ready: false,
      bornAt: Date.now(),
      lastBeat: Date.now(),
      current: null,
    };
    this.slots.add(slot);
    worker.on('message', (m: FromThreadWire) => this.onMessage(slot, decodeFromThread(m)));
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
    slot.lastBeat = Date.now();
    if ('id' in m) {
      const running = this.active.get(m.id);
      if (!running) return;
      if (endsExchange(m)) {
        this.active.delete(m.id);
        slot.current = null;
        running.exchange.onMessage(m);
        this.takeNext(slot);
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

  /** Once no request is left: end every thread. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timeoutCheck) clearInterval(this.timeoutCheck);
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    for (const w of this.waiting.splice(0)) w.exchange.onFail();
    await Promise.all([...this.slots].map((s) => s.worker.terminate()));
  }
}
