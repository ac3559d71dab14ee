// Processes for the harness: free ports, starting servers, waiting for their first 200, process trees, RSS, cleanup.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** A free 127.0.0.1 port chosen by the kernel (bound, read, released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The absolute path of an executable on PATH (or the path itself when absolute and executable), else null. */
export function which(name) {
  if (name.includes('/')) return existsSync(name) ? name : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const full = join(dir, name);
    if (dir && existsSync(full)) return full;
  }
  return null;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion (for short tools: pm2 CLI, nginx -t, python checks). */
export function runSync(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, ...opts });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/** Runs a command without blocking the event loop (so a load generator in this process keeps running). */
export function runAsync(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (out += c));
    child.on('error', (error) => resolve({ code: null, output: out, error }));
    child.on('exit', (code) => resolve({ code, output: out }));
  });
}

/** Spawns a server process in its own process group, keeping the tail of its output for error messages. */
export function spawnServer(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-4000);
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  const state = {
    child,
    exited: null,
    get output() {
      return output;
    },
  };
  child.on('exit', (code, signal) => (state.exited = { code, signal }));
  child.on('error', (err) => (state.exited = { code: null, signal: null, error: err }));
  return state;
}

/** The last meaningful line of a process's output: why it refused to start, in its own words. */
export function lastLine(output) {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  // Prefer the line that names the error over a trailing hint such as "Run gserve --help".
  const line = lines.findLast((l) => /error|invalid|unknown|cannot|failed/i.test(l)) ?? lines.at(-1) ?? '(no output)';
  try {
    const parsed = JSON.parse(line);
    return String(parsed.msg ?? line);
  } catch {
    return line.slice(0, 300);
  }
}

/** One GET on a fresh connection; resolves to the status code, or 0 on a connection error. */
export function probe(port, path = '/', timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/**
 * Polls until the server answers 200 (every 5 ms, so cold-start figures are not rounded up by the poll),
 * failing early when `alive()` says the process is gone.
 */
export async function waitFor200(port, { timeoutMs = 30_000, alive = () => true, path = '/' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await probe(port, path, 1000)) === 200) return;
    const why = alive();
    if (why !== true) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`no 200 from 127.0.0.1:${port}${path} within ${timeoutMs / 1000}s`);
    await sleep(5);
  }
}

function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: the fields after the last ')' are fixed.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/** `root` and all its live descendants (Linux /proc). */
export function processTree(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = parentOf(Number(name));
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  if (!isAlive(root)) return [];
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []));
  return out;
}

/** Resident set size of one process in bytes (0 when gone). */
export function rssOf(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs each PID we started or found under a process we started (never by name). */
export function killPids(pids, signal = 'SIGKILL') {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Waits until every PID is gone (bounded). */
export async function waitGone(pids, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(20);
}
