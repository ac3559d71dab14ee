import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { pollUntil } from './poll.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/gserve');
export const FIXTURES = join(ROOT, 'test/fixtures');

export interface LogLine {
  level: number;
  pid: number;
  msg: string;
  [key: string]: unknown;
}

/** A gserve master started in a child process, its log lines parsed on arrival. */
export class Gserve {
  readonly lines: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<() => void> = [];
  readonly workerPids = new Set<number>();
  exitCode: number | null | undefined = undefined;

  constructor(readonly child: ChildProcess) {
    let partial = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const text of parts) {
        try {
          const line: LogLine = JSON.parse(text);
          this.lines.push(line);
          const booted = /^Booting worker with pid: (\d+)/.exec(line.msg);
          if (booted) this.workerPids.add(Number(booted[1]));
        } catch {
          // not a log line (e.g. the CLI's plain error line): kept in stderr
        }
      }
      this.notify();
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.exitCode = code;
        resolve({ code, signal });
        this.notify();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until `predicate` holds, re-checking whenever output arrives or the process exits. */
  async until<T>(predicate: () => T | undefined | false, what: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = predicate();
      if (value) return value;
      if (this.exitCode !== undefined)
        throw new Error(`gserve exited (${this.exitCode}) while waiting for ${what}\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}\n--- stderr ---\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The first log line matching `pattern` after the first `skip` matches. */
  waitForLog(pattern: RegExp, { count = 1, timeoutMs = 30_000 } = {}): Promise<LogLine[]> {
    return this.until(
      () => {
        const hits = this.lines.filter((l) => pattern.test(l.msg));
        return hits.length >= count ? hits : undefined;
      },
      `${count} log line(s) matching ${pattern}`,
      timeoutMs,
    );
  }

  /** Resolves once `n` workers have reported ready. */
  async waitForWorkers(n: number, timeoutMs = 30_000): Promise<void> {
    await this.waitForLog(/^Worker ready/, { count: n, timeoutMs });
  }

  get port(): number {
    const line = this.lines.find((l) => l.msg.startsWith('Listening at: '));
    const m = line && /:(\d+) \(\d+\)$/.exec(line.msg);
    if (!m) throw new Error('no Listening at line yet');
    return Number(m[1]);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid, sig);
  }

  async stop(): Promise<void> {
    if (this.exitCode === undefined) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    // A master started by USR2 writes to the same output, and is no child of ours: a test that failed
    // before it stopped it would leave it running, refilling its workers.
    const masters = new Set(this.lines.filter((l) => /^Starting gserve/.test(l.msg)).map((l) => l.pid));
    masters.delete(this.pid);
    for (const pid of [...masters, ...this.workerPids]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

const running = new Set<Gserve>();
const tempDirs = new Set<string>();

afterEach(async () => {
  await Promise.all([...running].map((g) => g.stop()));
  running.clear();
});

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
});

export interface StartOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Wait for this many workers to be ready (default: the -w value, or 1); 0 to not wait. */
  workers?: number;
  /** Do not add `-b 127.0.0.1:0` (the test binds through PORT or a config file). */
  noBind?: boolean;
  /** A command that runs gserve (e.g. systemd-socket-activate and its options), instead of node itself. */
  wrapper?: string[];
  /** File descriptors of this process handed to gserve: its fd 3, 4, … */
  fds?: number[];
}

/** Starts the real gserve binary on an ephemeral port (unless the args bind elsewhere). */
export async function startGserve(args: string[], opts: StartOptions = {}): Promise<Gserve> {
  const hasBind = opts.noBind || args.some((a) => a === '-b' || a.startsWith('--bind'));
  const hasLevel = args.some((a) => a.startsWith('--log-level'));
  const full = [...(hasBind ? [] : ['-b', '127.0.0.1:0']), ...(hasLevel ? [] : ['--log-level', 'debug']), ...args];
  // Each master gets its own runtime dir, so default control sockets never collide between tests.
  const env: Record<string, string | undefined> = {
    ...process.env,
    PORT: undefined,
    WEB_CONCURRENCY: undefined,
    XDG_RUNTIME_DIR: tempDir(),
    ...opts.env,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const [command, ...prefix] = [...(opts.wrapper ?? []), process.execPath];
  const child = spawn(command!, [...prefix, BIN, ...full], {
    cwd: opts.cwd ?? ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe', ...(opts.fds ?? [])],
  });
  const g = new Gserve(child);
  running.add(g);
  const w = args.indexOf('-w');
  const expected = opts.workers ?? (w >= 0 ? Number(args[w + 1]) : 1);
  if (expected > 0) await g.waitForWorkers(expected);
  return g;
}

/** Runs gserve to completion (for commands that exit: --check-config, bad settings). */
export async function runGserve(
  args: string[],
  opts: StartOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string; g: Gserve }> {
  const g = await startGserve(args, { ...opts, workers: 0 });
  const { code } = await g.exited;
  // 'exit' can come before the last output is read: wait for both streams to end too.
  await Promise.all(
    [g.child.stdout!, g.child.stderr!].map((s) => (s.readableEnded ? null : new Promise((r) => s.once('end', r)))),
  );
  return { code, stdout: g.stdout, stderr: g.stderr, g };
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gserve-test-'));
  tempDirs.add(dir);
  return dir;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for a process (not our child) to be gone, polling its existence. */
export async function waitForExit(pid: number, timeoutMs = 30_000): Promise<void> {
  await pollUntil(() => !isAlive(pid), `process ${pid} to exit`, { timeoutMs });
}
