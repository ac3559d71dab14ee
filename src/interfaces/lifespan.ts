import { AppLoadError } from '../errors.js';
import type { AsgiApp, AsgiEvent, AsgiScope } from './asgi.js';
import type { AppCall, HostedApp } from './detect.js';

/**
 * ASGI lifespan, the way Uvicorn runs it: one long call of the app with a `lifespan` scope, told
 * `lifespan.startup` before the worker takes connections and `lifespan.shutdown` after it has
 * stopped. What the app puts in `scope.state` during startup is copied into every request scope.
 */
export type LifespanMode = 'auto' | 'on' | 'off';

/** The app answered `lifespan.startup.failed`, or (with `on`) raised during startup. */
export class LifespanStartupError extends Error {
  override name = 'LifespanStartupError';
}

export interface LifespanLog {
  info(msg: string): void;
  error(msg: string): void;
}

type Outcome =
  | { kind: 'complete' }
  | { kind: 'failed'; message: string }
  | { kind: 'returned' }
  | { kind: 'raised'; err: unknown };

export class Lifespan {
  private readonly inbox: AsgiEvent[] = [];
  private wake: (() => void) | null = null;
  private settle: ((o: Outcome) => void) | null = null;
  /** The event whose answer is awaited, which names the answers the app may send now. */
  private awaiting: 'lifespan.startup' | 'lifespan.shutdown' | null = null;
  private running: Promise<void> | null = null;
  private supported = false;
  /** The app's lifespan call has ended: there is no one left to tell of the shutdown. */
  private ended = false;

  private constructor(
    private readonly app: AppCall<AsgiApp>,
    private readonly state: Record<string, unknown>,
    private readonly log: LifespanLog,
  ) {}

  /** Runs the startup; resolves with the running lifespan, or null when the app does not speak it (auto). */
  static async start(
    app: AppCall<AsgiApp>,
    state: Record<string, unknown>,
    mode: LifespanMode,
    log: LifespanLog,
  ): Promise<Lifespan | null> {
    if (mode === 'off') return null;
    const lifespan = new Lifespan(app, state, log);
    const outcome = await lifespan.exchange('lifespan.startup');
    switch (outcome.kind) {
      case 'complete':
        lifespan.supported = true;
        return lifespan;
      case 'failed':
        throw new LifespanStartupError(outcome.message || 'lifespan.startup.failed (no message)');
      case 'returned':
      case 'raised': {
        const why = outcome.kind === 'raised' ? `raised ${describe(outcome.err)}` : 'returned';
        if (mode === 'on')
          throw new LifespanStartupError(
            `the ASGI app ${why} during lifespan startup, and --lifespan on requires lifespan support`,
          );
        log.info(`ASGI 'lifespan' protocol appears unsupported (the app ${why}); going on without it.`);
        return null;
      }
    }
  }

  /**
   * Sends `lifespan.shutdown` and waits for the answer, at most `timeoutMs` (what is left of
   * --graceful-timeout, so that an overrun is logged before the master's SIGKILL).
   */
  async shutdown(timeoutMs: number): Promise<void> {
    if (!this.supported || this.ended) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Outcome>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            kind: 'failed',
            message: `no lifespan.shutdown.complete within --graceful-timeout (${(Math.max(0, timeoutMs) / 1000).toFixed(1)} s left); exiting anyway`,
          }),
        Math.max(0, timeoutMs),
      );
    });
    const outcome = await Promise.race([this.exchange('lifespan.shutdown'), timeout]);
    clearTimeout(timer);
    if (outcome.kind === 'failed') this.log.error(`ASGI lifespan shutdown failed: ${outcome.message}`);
    else if (outcome.kind === 'raised') this.log.error(`ASGI lifespan shutdown raised ${describe(outcome.err)}`);
  }

  /** Puts `type` in the app's inbox and waits for its answer (or for the app to end). */
  private exchange(type: 'lifespan.startup' | 'lifespan.shutdown'): Promise<Outcome> {
    const answer = new Promise<Outcome>((resolve) => (this.settle = resolve));
    this.awaiting = type;
    this.inbox.push({ type });
    this.wake?.();
    if (!this.running) this.running = this.run();
    return answer;
  }

  private answer(outcome: Outcome): void {
    const settle = this.settle;
    this.settle = null;
    this.awaiting = null;
    if (settle) return settle(outcome);
    // No exchange is waiting: the app's lifespan ended on its own, after its startup.
    if (outcome.kind === 'raised')
      this.log.error(
        `ASGI lifespan raised after its startup completed: ${describe(outcome.err)}; its shutdown will not run`,
      );
  }

  private async run(): Promise<void> {
    // Only an asgi app gets here; importing the adapter lazily keeps it (and `ws`) out of other workers.
    const { ASGI_VERSION } = await import('./asgi.js');
    const scope: AsgiScope = { type: 'lifespan', asgi: { ...ASGI_VERSION }, state: this.state };
    const receive = async (): Promise<AsgiEvent> => {
      while (this.inbox.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
      return this.inbox.shift()!;
    };
    const send = async (event: AsgiEvent): Promise<void> => {
      // Like Uvicorn: an answer to an event that was not sent (shutdown.complete for the startup,
      // a second startup.complete) is an error raised in the app, not taken for the awaited one.
      const type = String(event?.type);
      const phase = /^(lifespan\.(?:startup|shutdown))\.(?:complete|failed)$/.exec(type)?.[1];
      if (phase && phase !== this.awaiting)
        throw new Error(
          `${type} sent ${this.awaiting ? `while ${this.awaiting} awaits its answer` : 'with no event awaiting an answer'}`,
        );
      switch (event?.type) {
        case 'lifespan.startup.complete':
        case 'lifespan.shutdown.complete':
          return this.answer({ kind: 'complete' });
        case 'lifespan.startup.failed':
        case 'lifespan.shutdown.failed':
          return this.answer({ kind: 'failed', message: typeof event.message === 'string' ? event.message : '' });
        default:
          throw new Error(`unexpected event ${JSON.stringify(event?.type)} in the lifespan scope`);
      }
    };
    let outcome: Outcome;
    try {
      await this.app(scope, receive, send);
      outcome = { kind: 'returned' };
    } catch (err) {
      outcome = { kind: 'raised', err };
    }
    this.ended = true;
    this.answer(outcome);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * The worker's entry: the lifespan of an ASGI app (null for other kinds); a failed startup is an
 * app load error (exit 4).
 */
export async function startLifespan(app: HostedApp, mode: LifespanMode, log: LifespanLog): Promise<Lifespan | null> {
  if (app.kind !== 'asgi') return null;
  try {
    return await Lifespan.start(app.app, app.state, mode, log);
  } catch (err) {
    if (err instanceof LifespanStartupError)
      throw new AppLoadError('GSERVE_E_LIFESPAN_STARTUP', `ASGI lifespan startup failed: ${err.message}`);
    throw err;
  }
}
