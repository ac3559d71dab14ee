import { performance } from 'node:perf_hooks';
import type { BootSettings } from './boot.js';
import type { WorkerMessage } from './ipc-messages.js';
import { residentMemory } from './rss.js';

/**
 * RSS is sampled this often: reading it costs microseconds, and a worker under load can allocate
 * hundreds of MB in a second, so a 1 s sample overshot the ceiling several times over.
 */
const MEMORY_CHECK_MS = 100;
/**
 * Under load the timer's turn comes late (the loop is busy with requests), so responses sample
 * too, at most this often: the growth between two samples stays a few MB even at full speed.
 */
const RESPONSE_SAMPLE_MS = 10;
/**
 * A worker asked to retire for memory drains gracefully, for up to --graceful-timeout; one that
 * goes on growing meanwhile (a leak in a timer, a streaming answer that allocates as it goes) grew
 * by gigabytes before its deadline. Past this multiple of the ceiling it asks to be stopped at once.
 */
export const MEMORY_HARD_FACTOR = 1.5;

/**
 * Recycling, worker side: count responses against `maxRequests` (+ a random jitter, so workers
 * started together do not all retire together) and watch RSS against `maxWorkerMemory`. When a
 * limit is passed the worker asks the master to retire it; the master starts a replacement and
 * stops this one gracefully, so no request is cut.
 */
export class Recycler {
  private served = 0;
  private readonly limit: number;
  private asked = false;
  private hardAsked = false;
  private readonly memoryTimer: NodeJS.Timeout | null = null;
  private readonly ceiling: number;
  private lastSample = 0;

  constructor(
    settings: Pick<BootSettings, 'maxRequests' | 'maxRequestsJitter' | 'maxWorkerMemory'>,
    private readonly send: (m: WorkerMessage) => void,
  ) {
    const max = settings.maxRequests;
    const jitter = settings.maxRequestsJitter;
    this.limit = max > 0 ? max + Math.floor(Math.random() * (jitter + 1)) : 0;
    const ceiling = (this.ceiling = settings.maxWorkerMemory);
    if (ceiling > 0) {
      this.memoryTimer = setInterval(() => this.sampleMemory(), MEMORY_CHECK_MS);
      this.memoryTimer.unref();
    }
  }

  private sampleMemory(): void {
    this.lastSample = performance.now();
    const rss = residentMemory();
    if (rss === null || rss <= this.ceiling) return;
    if (!this.asked) {
      this.retire(`memory ${formatMB(rss)} passed the ceiling of ${formatMB(this.ceiling)} (maxWorkerMemory)`, true);
    } else if (!this.hardAsked && rss > this.ceiling * MEMORY_HARD_FACTOR) {
      // Still growing while it drains: the ceiling must stay one, so no more draining.
      this.hardAsked = true;
      if (this.memoryTimer) clearInterval(this.memoryTimer);
      this.send({
        t: 'retire',
        memory: true,
        now: true,
        reason: `memory ${formatMB(rss)} passed ${MEMORY_HARD_FACTOR}× the ceiling of ${formatMB(this.ceiling)} (maxWorkerMemory) after it asked to retire`,
      });
    }
  }

  onResponse(): void {
    // The first response proves this worker's slot healthy: its death is then no crash-loop strike.
    if (++this.served === 1) this.send({ t: 'serving' });
    if (this.limit > 0 && this.served >= this.limit) this.retire(`served ${this.served} requests (maxRequests)`);
    if (this.ceiling > 0 && !this.hardAsked && performance.now() - this.lastSample >= RESPONSE_SAMPLE_MS)
      this.sampleMemory();
  }

  /** Asks the master to replace this worker; the memory timer goes on, watching for MEMORY_HARD_FACTOR. */
  private retire(reason: string, memory = false): void {
    if (this.asked) return;
    this.asked = true;
    // Past it before its second response: the ceiling is about the app's own size, not a leak.
    this.send(memory ? { t: 'retire', reason, memory, early: this.served <= 1 } : { t: 'retire', reason });
  }
}

const formatMB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
