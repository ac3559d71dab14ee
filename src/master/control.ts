import { chmodSync, existsSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import {
  controlDir,
  defaultControlPath,
  ensureControlDir,
  explicitControlPath,
  type ControlSettings,
} from './control-path.js';
import { VERSION } from '../version.js';
import { errorCode, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { WorkerRow, WorkerStatsBook } from './worker-stats.js';
import type { WorkerProcess } from './worker-process.js';
import { handleFd } from './node-handles.js';
import { connectError, socketPathTooLong, unixSocketHint } from './socket-path.js';
import { sweepDeadControlSockets } from './control-sweep.js';
import { RELOAD_LOAD_SECONDS } from './deadline.js';
import { MAX_WORKERS } from '../config/settings/workers.js';
import type { ArbiterEventMap, ArbiterEvents, ReloadOutcome } from './arbiter-events.js';

/**
 * The control socket: a Unix socket (mode 0600) where `gserve status|reload|scale|stop` talk to
 * the master. The protocol is JSON lines: one request line, then one reply line when the command
 * has finished (`{"ok":true,...}` or `{"ok":false,"error":"..."}`).
 */

export type ControlRequest =
  | { cmd: 'status' }
  | { cmd: 'reload' }
  | { cmd: 'scale'; workers: string }
  | { cmd: 'stop'; fast?: boolean };

export interface ArbiterSnapshot {
  pid: number;
  startedAt: number;
  bind: string[];
  workerClass: string;
  /** How many workers the master aims to run. */
  target: number;
  generation: number;
  stopping: boolean;
  /** A HUP's new generation is booting; when it serves, the worker count goes back to the setting. */
  reloading: boolean;
  gracefulTimeout: number;
  /**
   * Seconds a HUP may spend on each of its bounded steps (loading the config, the onReload hook,
   * the new workers' boot): --timeout, or 30 s when it is 0.
   */
  reloadBound?: number;
  workers: readonly WorkerProcess[];
}

/** What the control socket may ask of the arbiter: the same handlers the signals use. */
export interface Controllable {
  snapshot(): ArbiterSnapshot;
  /** Workers coming and going, and each reload's outcome: what the control socket waits on. */
  readonly events: ArbiterEvents;
  /** HUP; returns the ticket its ReloadOutcome will carry. */
  reload(): number;
  /** Sets the number of workers (TTIN/TTOU by more than one). */
  scale(workers: number): void;
  /** TERM (graceful) or QUIT (fast). */
  stop(graceful: boolean): void;
}

export interface StatusReport {
  master: {
    pid: number;
    version: string;
    uptime: number;
    bind: string[];
    workerClass: string;
    workers: number;
    generation: number;
    /** A stop has begun: the listeners are closed, the workers finish what they hold. */
    stopping?: boolean;
  };
  workers: WorkerRow[];
  restarts: Record<string, number>;
}

/**
 * The master's socket path (see control-path.ts): explicit, beside --pid, or the default for the
 * folder gserve was started in and its first bind. The CLI finds it with cli/find-master.ts.
 */
export function controlSocketPath(settings: ControlSettings, cwd = process.cwd(), folder = cwd): string | null {
  const explicit = explicitControlPath(settings, cwd);
  return explicit === undefined ? defaultControlPath(settings, folder) : explicit;
}

/** The arbiter's events after which a wait checks its condition again. */
const PROGRESS_EVENTS: ReadonlyArray<keyof ArbiterEventMap> = ['spawn', 'message', 'exit', 'reload-start', 'reload'];
/**
 * HUP re-reads the config file first (bounded by --timeout, 30 s when 0), runs onReload (the same
 * bound), and may wait behind a reload under way (whose workers get that bound to boot): a new
 * generation starts within that, or the reload was refused and says why.
 */
const reloadStartSeconds = (bound = RELOAD_LOAD_SECONDS) => 4 * bound + 5;

/** Control clients at once; each waiting one holds a descriptor and listeners on the arbiter's events. */
const MAX_CONTROL_CLIENTS = 64;
/** Requests of one client not yet answered: more, and it does not read its replies. */
const MAX_PENDING_PER_CLIENT = 16;
/** Reply bytes waiting for a client that does not read them. */
const MAX_UNREAD_REPLY_BYTES = 1024 * 1024;
/** A client that neither sends a whole line nor waits for an answer this long is dropped. */
const IDLE_CLIENT_MS = 30_000;

/** How often a master looks for its control socket's file. */
const PATH_CHECK_MS = 5000;

export class ControlServer {
  private server: Server | null = null;
  private readonly clients = new Set<Socket>();
  private pathCheck: NodeJS.Timeout | null = null;
  private restoring = false;
  /** The file was removed and listening anew failed: USR1 and HUP try again. */
  private lost = false;

  constructor(
    private readonly path: string,
    private readonly arbiter: Controllable,
    private readonly book: WorkerStatsBook,
    private readonly log: Logger,
  ) {}

  /**
   * Listens unless another live master owns the path (then the control socket stays off, with a
   * warning). `inheritedFd`: the socket an old master passed on USR2, already listening at the path.
   */
  async start(inheritedFd?: number): Promise<boolean> {
    if (inheritedFd !== undefined) return this.adopt(inheritedFd);
    const tooLong = socketPathTooLong(this.path);
    if (tooLong) {
      this.log.warn(
        'Control socket %s: %s; gserve status will not reach this master. Set a shorter --control-socket.',
        this.path,
        tooLong,
      );
      return false;
    }
    const folder = dirname(this.path);
    const inDefaultFolder = folder === controlDir();
    if (inDefaultFolder) {
      const problem = ensureControlDir(folder);
      if (problem) {
        this.log.warn('Control socket: %s; gserve status will not reach this master. Set --control-socket.', problem);
        return false;
      }
    }
    if (existsSync(this.path)) {
      if (!lstatSync(this.path).isSocket()) {
        this.log.warn(
          `Control socket ${this.path}: a file that is not a socket is in the way; ` +
            'gserve status will not reach this master. Set --control-socket.',
        );
        return false;
      }
      if ((await connectError(this.path)) === null) {
        this.log.warn(
          `Control socket ${this.path} belongs to another running gserve; this master has none. ` +
            'Give each master its own --pid or --control-socket.',
        );
        return false;
      }
      unlinkSync(this.path); // left by a master that died without cleaning up
    }
    const server = createServer((socket) => this.accept(socket));
    // The socket must never be reachable by others, not even between bind and chmod.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.listen(this.path, () => ok());
      });
    } catch (err) {
      const code = errorCode(err);
      const hint = code ? unixSocketHint(code, this.path) : null;
      this.log.warn(
        `Control socket ${this.path}: cannot listen (${hint ? hint.replace(/\.$/, '') : (code ?? errorMessage(err))}); ` +
          'gserve status will not reach this master.',
      );
      return false;
    } finally {
      process.umask(umask);
    }
    chmodSync(this.path, 0o600);
    this.server = server;
    this.watchPath();
    this.log.info('Control socket at: %s', this.path);
    if (inDefaultFolder)
      void sweepDeadControlSockets(folder, this.path).then((removed) => {
        if (removed > 0) this.log.info('Removed %d control socket(s) left by masters that are gone', removed);
      });
    return true;
  }

  private async adopt(fd: number): Promise<boolean> {
    const server = createServer((socket) => this.accept(socket));
    try {
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.listen({ fd }, () => ok());
      });
    } catch (err) {
      this.log.warn('Control socket %s: cannot take it over from the old master (%s).', this.path, errorCode(err));
      return false;
    }
    this.server = server;
    this.watchPath();
    this.log.info('Control socket at: %s (taken over from the old master)', this.path);
    return true;
  }

  /** The listening descriptor, for a USR2 successor to inherit. */
  get fd(): number | null {
    return handleFd(this.server);
  }

  /** A USR2 successor inherited this socket and answers on it now: stop answering here. */
  handOver(): void {
    this.close(false);
  }

  /** `unlink`: false when another master (a USR2 successor or predecessor) answers on the same path. */
  close(unlink = true): void {
    this.stopWatching();
    if (!this.server) return;
    for (const c of this.clients) c.end(); // flushes a reply still being written
    if (unlink) {
      this.server.close();
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    } else this.closeKeepingPath(this.server);
    this.server = null;
  }

  /**
   * Closing a Unix socket server that listened on a path makes libuv unlink that path, which is
   * another master's socket by then (a USR2 successor's or predecessor's): so the file is moved aside
   * for the close and put back at once.
   */
  private closeKeepingPath(server: Server): void {
    const aside = `${this.path}.handover-${process.pid}`;
    let moved = true;
    try {
      renameSync(this.path, aside);
    } catch {
      moved = false; // no file to keep
    }
    try {
      server.close();
    } finally {
      if (moved) renameSync(aside, this.path);
    }
  }

  /**
   * Listens at the path again when its file is gone (a /tmp cleaner, a stray rm): the master would
   * answer no `gserve` command any more, and a `gserve stop` in its folder would find only another
   * master started there, and stop that one. Checked every few seconds, and on USR1 and HUP. A path
   * that something else took meanwhile is left to it; one where it cannot listen is logged once, and
   * tried again on the next USR1 or HUP only.
   */
  async restore(): Promise<void> {
    if ((!this.server && !this.lost) || this.restoring || existsSync(this.path)) return;
    this.restoring = true;
    try {
      if (this.server) {
        this.log.warn('Control socket %s was removed; listening there again', this.path);
        // Its file is gone, so libuv's unlink at the close finds nothing to remove.
        this.server.close();
        this.server = null;
      }
      this.lost = !(await this.start());
      if (this.lost) this.stopWatching();
    } finally {
      this.restoring = false;
    }
  }

  private watchPath(): void {
    this.pathCheck ??= setInterval(() => void this.restore(), PATH_CHECK_MS).unref();
  }

  private stopWatching(): void {
    if (this.pathCheck) clearInterval(this.pathCheck);
    this.pathCheck = null;
  }

  private accept(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    // Every client holds a descriptor of the master's, which it also needs to fork workers.
    if (this.clients.size >= MAX_CONTROL_CLIENTS) {
      socket.end(JSON.stringify({ ok: false, error: 'too many control clients at once; try again' }) + '\n');
      return;
    }
    this.clients.add(socket);
    socket.on('close', () => this.clients.delete(socket));
    let pending = 0;
    // A line that never ends, or a connection left open and silent: dropped, unless it waits for an answer.
    socket.setTimeout(IDLE_CLIENT_MS, () => {
      if (pending === 0) socket.destroy();
    });
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > 64 * 1024) return socket.destroy();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        // A client that sends requests without reading the replies would grow the master's memory.
        if (++pending > MAX_PENDING_PER_CLIENT || socket.writableLength > MAX_UNREAD_REPLY_BYTES)
          return socket.destroy();
        void this.answer(line).then((reply) => {
          pending--;
          if (socket.destroyed) return;
          socket.write(JSON.stringify(reply) + '\n');
          if (socket.writableLength > MAX_UNREAD_REPLY_BYTES) socket.destroy();
        });
      }
    });
  }

  private async answer(line: string): Promise<Record<string, unknown>> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return { ok: false, error: 'not a JSON line' };
    }
    // From another process: each field is read unknown-typed and checked (see ControlRequest).
    const request: Record<string, unknown> = typeof parsed === 'object' && parsed !== null ? { ...parsed } : {};
    try {
      switch (request.cmd) {
        case 'status':
          return { ok: true, status: this.status() };
        case 'reload':
          return await this.reload();
        case 'scale':
          return await this.scale(String(request.workers));
        case 'stop':
          this.log.info('Control socket: stop%s', request.fast ? ' (fast)' : '');
          // Reply first: the client then watches the pid until the master is gone.
          setImmediate(() => this.arbiter.stop(!request.fast));
          return { ok: true, pid: process.pid };
        default:
          return {
            ok: false,
            error: `unknown command ${JSON.stringify(request.cmd)}; try status, reload, scale or stop`,
          };
      }
    } catch (err) {
      return { ok: false, error: errorMessage(err) };
    }
  }

  status(): StatusReport {
    const snap = this.arbiter.snapshot();
    const now = Date.now();
    return {
      master: {
        pid: snap.pid,
        version: VERSION,
        uptime: (now - snap.startedAt) / 1000,
        bind: snap.bind,
        workerClass: snap.workerClass,
        workers: snap.target,
        generation: snap.generation,
        stopping: snap.stopping,
      },
      workers: [...snap.workers].sort((a, b) => a.bornAt - b.bornAt).map((w) => this.book.row(w, now)),
      restarts: { ...this.book.restarts },
    };
  }

  /**
   * HUP, then wait until only new-generation workers run, all ready. A reload that fails (the new
   * code does not load) goes back to the old generation: that is reported at once.
   */
  private async reload(): Promise<Record<string, unknown>> {
    const { events } = this.arbiter;
    // Recorded by ticket: the arbiter may announce this reload before reload() has returned its ticket.
    const starts = new Map<number, number>();
    const outcomes = new Map<number, ReloadOutcome>();
    const onStart = (ticket: number, generation: number) => starts.set(ticket, generation);
    const onOutcome = (outcome: ReloadOutcome) => outcomes.set(outcome.ticket, outcome);
    events.on('reload-start', onStart);
    events.on('reload', onOutcome);
    try {
      this.book.lastBootError = null;
      this.log.info('Control socket: reload');
      const ticket = this.arbiter.reload();
      const startSeconds = reloadStartSeconds(this.arbiter.snapshot().reloadBound);
      const started = await this.waitFor(
        () => (starts.has(ticket) ? true : outcomes.has(ticket) ? false : undefined),
        startSeconds,
      );
      const generation = starts.get(ticket);
      // A TERM, INT or QUIT before or during the reload: no generation serves on, old or new.
      const abandoned = { ok: false, error: 'reload abandoned: the master is stopping' };
      if (!started || generation === undefined) {
        const outcome = outcomes.get(ticket);
        // Refused before any worker was forked (a broken config file): its reason, at once.
        if (outcome && !outcome.ok && outcome.reason && !outcome.stopping)
          return { ok: false, error: `reload failed, keeping the running settings and workers: ${outcome.reason}` };
        if ((outcome?.ok === false && outcome.stopping) || this.arbiter.snapshot().stopping) return abandoned;
        return {
          ok: false,
          error: `the master did not start a reload within ${startSeconds} s (see its error log)`,
        };
      }
      const deadline = 30 + this.arbiter.snapshot().gracefulTimeout;
      const done = await this.waitFor(() => {
        if (outcomes.get(ticket)?.ok === false) return false; // rolled back
        const s = this.arbiter.snapshot();
        const fresh = s.workers.filter((w) => w.generation >= generation);
        if (fresh.length === s.target && s.workers.length === s.target && fresh.every((w) => w.state === 'ready'))
          return true;
        return undefined;
      }, deadline);
      const after = this.arbiter.snapshot();
      if (!done && after.stopping) return abandoned;
      if (!done) {
        const fresh = after.workers.filter((w) => w.generation >= generation && w.state === 'ready').length;
        const why = this.book.lastBootError ?? 'see the error log';
        return {
          ok: false,
          error: `reload failed, the old workers keep serving (${fresh} of ${after.target} new workers ready): ${why}`,
        };
      }
      return { ok: true, generation: after.generation, workers: after.workers.map((w) => w.pid) };
    } finally {
      events.off('reload-start', onStart);
      events.off('reload', onOutcome);
    }
  }

  private async scale(text: string): Promise<Record<string, unknown>> {
    const m = /^([+-]?)(\d+)$/.exec(text.trim());
    if (!m) return { ok: false, error: `scale takes N, +N or -N, got ${JSON.stringify(text)}` };
    if (this.arbiter.snapshot().stopping)
      return { ok: false, error: 'cannot scale: the master is stopping (its workers are finishing their requests)' };
    const current = this.arbiter.snapshot().target;
    const n = Number(m[2]);
    const target = m[1] === '+' ? current + n : m[1] === '-' ? current - n : n;
    if (target < 1)
      return { ok: false, error: `cannot scale to ${target} workers; at least 1 must run (use gserve stop to stop)` };
    if (target > MAX_WORKERS)
      return { ok: false, error: `cannot scale to ${target} workers; ${MAX_WORKERS} is the most one master runs` };
    this.log.info('Control socket: scale from %d to %d workers', current, target);
    this.arbiter.scale(target);
    const deadline = 30 + this.arbiter.snapshot().gracefulTimeout;
    const done = await this.waitFor(() => {
      const s = this.arbiter.snapshot();
      // A reload that ends meanwhile sets the count from the settings again, as Gunicorn's HUP does:
      // while one is under way, the count reached is not yet the one that stays.
      if (s.target !== target) return false;
      if (s.reloading) return undefined;
      return s.workers.length === target && s.workers.every((w) => w.state === 'ready') ? true : undefined;
    }, deadline);
    const after = this.arbiter.snapshot();
    if (after.target !== target)
      return {
        ok: false,
        error: `a reload set the worker count back to ${after.target} (the workers setting) while scaling; scale again`,
      };
    if (!done)
      return {
        ok: false,
        error:
          `scale not finished after ${deadline} s: ${after.workers.length} workers, ${target} wanted ` +
          '(see the error log)',
      };
    return { ok: true, workers: after.workers.map((w) => w.pid) };
  }

  /**
   * Checks `settled` now and after each of the arbiter's events until it returns a verdict; false
   * once the master is stopping or `seconds` have passed.
   */
  private waitFor(settled: () => boolean | undefined, seconds: number): Promise<boolean> {
    const { events } = this.arbiter;
    return new Promise((resolve) => {
      const check = () => {
        const verdict = settled();
        if (verdict !== undefined) finish(verdict);
        else if (this.arbiter.snapshot().stopping) finish(false);
      };
      const timer = setTimeout(() => finish(false), seconds * 1000);
      const finish = (verdict: boolean) => {
        clearTimeout(timer);
        for (const name of PROGRESS_EVENTS) events.off(name, check);
        resolve(verdict);
      };
      for (const name of PROGRESS_EVENTS) events.on(name, check);
      check();
    });
  }
}
