import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, FIXTURES, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { missing } from '../helpers/needs.js';
import { pollUntil } from '../helpers/poll.js';

/**
 * `gserve top` in a real terminal: tmux (its own server socket, so other tmux users are untouched)
 * runs it in a 150x40 pane; the test reads the screen with capture-pane and types with send-keys,
 * waiting on what the screen shows, with deadlines.
 */
const socket = `gserve-top-test-${process.pid}`;
// tmux keeps its server sockets in $TMUX_TMPDIR/tmux-UID, and kill-server leaves them there: a temp
// folder of this file's own, removed with it, rather than /tmp/tmux-0.
const env = { ...process.env, TMUX_TMPDIR: tempDir() };
const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', env });
const screen = () => tmux('capture-pane', '-p', '-t', 'top').stdout;

afterEach(() => {
  tmux('kill-server');
});

async function screenShows(
  test: (text: string) => boolean,
  what: string,
  act?: () => Promise<unknown>,
  timeoutMs = 30_000,
): Promise<string> {
  return pollUntil(
    async () => {
      const text = screen();
      if (test(text)) return text;
      await act?.();
      return false;
    },
    () => `the screen to show ${what}:\n${screen()}`,
    { timeoutMs },
  );
}

/** The row of a worker on the screen, split into its columns, keyed by the header. */
function row(text: string, pid: number): Record<string, string> | null {
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('PID '));
  const line = lines.find((l) => l.startsWith(`${pid} `));
  if (!header || !line) return null;
  const names = header.trim().split(/\s+/);
  const cells = line.trim().split(/\s+/);
  return Object.fromEntries(names.map((n, i) => [n, cells[i]!]));
}

describe.skipIf(missing('tmux'))('gserve top', () => {
  it('shows every worker live (state, req/s, in flight, p50/p99, RSS, CPU %, restarts) and quits on q', async () => {
    const control = join(tempDir(), 'gserve.ctl');
    const g = await startGserve(['--control-socket', control, '-w', '2', join(FIXTURES, 'apps/node-pid.js')]);
    const [a, b] = [...g.workerPids];
    // The shell line reports top's exit status, then waits, so the pane stays readable.
    const command = `${process.execPath} ${BIN} top --control-socket ${control}; echo "[top exited $?]"; read _`;
    const started = tmux('new-session', '-d', '-s', 'top', '-x', '150', '-y', '40', command);
    expect(started.status, started.stderr).toBe(0);

    let text = await screenShows(
      (t) => t.includes(`gserve top - master ${g.pid}`) && row(t, a!) !== null && row(t, b!) !== null,
      'both workers',
    );
    expect(text).toMatch(/^PID +INDEX +STATE +REQ\/S +IN-FLIGHT +P50 +P99 +RSS +CPU% +RESTARTS +GEN +UPTIME/m);
    expect(row(text, a!)).toMatchObject({ STATE: 'ready', 'IN-FLIGHT': '0', RESTARTS: '0' });
    expect(row(text, a!)!.RSS).toMatch(/^\d+\.\dM$/);

    // Traffic until a worker's rate and latency appear: the screen refreshes by itself.
    text = await screenShows(
      (t) => [a, b].some((pid) => Number(row(t, pid!)?.['REQ/S']) > 0 && /ms$/.test(row(t, pid!)?.P50 ?? '')),
      'a request rate and latencies',
      () => Promise.all(Array.from({ length: 10 }, () => get(g.url))),
    );
    const busy = [a, b].map((pid) => row(text, pid!)!).find((r) => Number(r['REQ/S']) > 0)!;
    expect(busy.P99).toMatch(/ms$/);
    expect(Number(busy['CPU%'])).toBeGreaterThanOrEqual(0);

    // A request held open shows in flight (node-pid's /slow answers after ?ms=).
    const slow = get(`${g.url}/slow?ms=60000`).catch(() => null);
    await screenShows((t) => [a, b].some((pid) => row(t, pid!)?.['IN-FLIGHT'] === '1'), 'a request in flight');

    // A restarted worker: its replacement shows RESTARTS 1.
    process.kill(a!, 'SIGKILL');
    await g.waitForLog(/^Booting worker with pid/, { count: 3 });
    const replacement = [...g.workerPids].find((pid) => pid !== a && pid !== b)!;
    text = await screenShows((t) => row(t, replacement)?.RESTARTS === '1', 'the replacement worker with one restart');
    expect(row(text, a!)).toBeNull();

    tmux('send-keys', '-t', 'top', 'q');
    text = await screenShows((t) => t.includes('[top exited 0]'), 'top exiting on q');
    expect(text).not.toContain('gserve top - master'); // the alternate screen is gone
    void slow;
  }, 120_000); // several screens to wait for, each with its own deadline
});
