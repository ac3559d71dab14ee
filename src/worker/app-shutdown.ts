/**
 * The app's own shutdown, for node and fetch apps (ASGI apps have lifespan). When a worker stops
 * gracefully (TERM, HUP, scale down, recycling), once its in-flight requests have finished gserve
 * runs, within what is left of --graceful-timeout:
 *   1. `close()` or `shutdown()` exported by the app module, then the same methods of the app object;
 *   2. the app's own `process.on('SIGTERM')` listeners, then its `SIGINT` ones (each function once).
 * Signals never reach the app directly in a worker: the master stops workers over IPC, and a TERM
 * sent to the worker itself must not let the app exit before its requests drain. So the app's
 * listeners for these two signals are kept aside here instead of on `process`.
 */
import { settleWithin } from '../supervision/settle-within.js';

type Listener = (...args: unknown[]) => unknown;
type Signal = 'SIGTERM' | 'SIGINT';
const SIGNALS: readonly Signal[] = ['SIGTERM', 'SIGINT'];
const CLOSERS: readonly string[] = ['close', 'shutdown'];

const isListener = (v: unknown): v is Listener => typeof v === 'function';
const isHeld = (event: unknown): event is Signal => SIGNALS.some((s) => s === event);

/**
 * `process`'s listener methods, read and replaced by name: they are EventEmitter's, overloaded per
 * event, and holdSignalListeners() swaps them for plain functions (restore() puts them back).
 */
type Method = (this: unknown, ...args: unknown[]) => unknown;
function processMethod(name: string): Method {
  const method: unknown = Reflect.get(process, name);
  if (!isListener(method)) throw new TypeError(`process.${name} is not a function`);
  return method;
}
const setProcessMethod = (name: string, method: Method) => Reflect.set(process, name, method);

interface Held {
  listener: Listener;
  once: boolean;
}

export interface ShutdownLog {
  info(msg: string): void;
  error(msg: string): void;
}

export class AppShutdown {
  private readonly held = new Map<Signal, Held[]>(SIGNALS.map((s) => [s, []]));
  private readonly closers: Array<{ what: string; fn: Listener; self: unknown }> = [];
  private ran = false;

  /**
   * From now on, `process.on/once/prependListener('SIGTERM'|'SIGINT')` (and their removal) act on
   * the list kept here. Install it after gserve's own signal handlers, before the app loads.
   */
  holdSignalListeners(): void {
    const originals = new Map<string, Method>();
    const add = (name: string, once: boolean, prepend: boolean) => {
      const original = processMethod(name);
      originals.set(name, original);
      setProcessMethod(name, function (this: unknown, event: unknown, listener: unknown) {
        if (!isHeld(event) || !isListener(listener)) return original.call(this, event, listener);
        const list = heldMap.get(event)!;
        const entry = { listener, once };
        if (prepend) list.unshift(entry);
        else list.push(entry);
        return process;
      });
    };
    const heldMap = this.held;
    add('on', false, false);
    add('addListener', false, false);
    add('once', true, false);
    add('prependListener', false, true);
    add('prependOnceListener', true, true);
    for (const name of ['off', 'removeListener']) {
      const original = processMethod(name);
      originals.set(name, original);
      setProcessMethod(name, function (this: unknown, event: unknown, listener: unknown) {
        if (!isHeld(event)) return original.call(this, event, listener);
        const list = heldMap.get(event)!;
        const at = list.findLastIndex((h) => h.listener === listener);
        if (at >= 0) list.splice(at, 1);
        return process;
      });
    }
    // An app's removeAllListeners('SIGTERM') must not take gserve's own handler with it.
    const removeAll = processMethod('removeAllListeners');
    originals.set('removeAllListeners', removeAll);
    setProcessMethod('removeAllListeners', function (this: unknown, ...args: unknown[]) {
      if (args.length && isHeld(args[0])) {
        heldMap.get(args[0])!.length = 0;
        return process;
      }
      return removeAll.apply(this, args);
    });
    this.restore = () => {
      for (const [name, original] of originals) setProcessMethod(name, original);
    };
  }

  /** Puts `process`'s own methods back (for tests); held listeners stay held. */
  restore: () => void = () => {};

  /** Notes the close functions of a loaded app: its module's exports, then the app value's methods. */
  addApp(value: unknown, module: Record<string, unknown>): void {
    const seen = new Set(this.closers.map((c) => c.fn));
    const pick = (holder: unknown, where: string) => {
      if ((typeof holder !== 'object' && typeof holder !== 'function') || holder === null) return;
      for (const key of CLOSERS) {
        const fn: unknown = Reflect.get(holder, key);
        if (!isListener(fn) || seen.has(fn)) continue;
        seen.add(fn);
        this.closers.push({ what: `${where}.${key}()`, fn, self: holder });
      }
    };
    pick(module, 'the app module');
    // A CommonJS module's exports arrive in the default export.
    if (module.default !== value) pick(module.default, 'the app module');
    // Functions have no close of their own worth calling (an Express app's is not a method); objects do
    // (Fastify, Bun-style apps).
    if (typeof value === 'object') pick(value, 'the app');
  }

  /** What will run, for the log line; empty when the app has nothing to close. */
  describe(): string[] {
    const listeners = SIGNALS.flatMap((s) =>
      this.held.get(s)!.length ? [`${this.held.get(s)!.length} ${s} listener(s)`] : [],
    );
    return [...this.closers.map((c) => c.what), ...listeners];
  }

  /** Runs the app's shutdown once; resolves when it is done or `timeoutMs` has passed. */
  async run(timeoutMs: number, log: ShutdownLog): Promise<void> {
    if (this.ran) return;
    this.ran = true;
    const steps = this.describe();
    if (steps.length === 0) return;
    log.info(`Closing the app: ${steps.join(', ')}`);
    if (!(await settleWithin(this.runSteps(log), timeoutMs)).done)
      log.error(
        `The app's shutdown did not finish within --graceful-timeout (${(timeoutMs / 1000).toFixed(1)} s left); ` +
          'exiting anyway',
      );
  }

  private async runSteps(log: ShutdownLog): Promise<void> {
    const called = new Set<Listener>();
    const call = async (what: string, fn: Listener, self: unknown, ...args: unknown[]) => {
      called.add(fn);
      try {
        await fn.apply(self, args);
      } catch (err) {
        log.error(`Error in ${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    };
    for (const c of this.closers) await call(c.what, c.fn, c.self);
    for (const signal of SIGNALS) {
      const list = this.held.get(signal)!;
      for (const h of [...list]) {
        if (h.once) list.splice(list.indexOf(h), 1);
        // An app often registers one handler for both signals: it runs once.
        if (called.has(h.listener)) continue;
        await call(`the app's ${signal} listener`, h.listener, process, signal);
      }
    }
  }
}
