import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * Tests that need something this machine may lack (a tool, a permission) are skipped with
 * `it.skipIf(missing('openssl'))` or `describe.skipIf(...)`, so that vitest reports them skipped
 * instead of counting a test that returned early among the passed ones. The reason is printed once per file.
 */

interface Need {
  /** The command run to find out, and its arguments; it must exit 0. */
  probe: string[];
  /** Where the command comes from, for the skip line. */
  from: string;
  /** What its standard output must show, beyond exiting 0. */
  shows?: RegExp;
}

/** The `unshare` options that give gserve a PID namespace of its own (test/integration/pid1.test.ts). */
export const UNSHARE_PID = ['--pid', '--fork', '--mount-proc'];

const NEEDS = {
  openssl: { probe: ['openssl', 'version'], from: 'Debian package openssl' },
  'curl with HTTP/2': { probe: ['curl', '-V'], from: 'Debian package curl', shows: /^Features:.*\bHTTP2\b/m },
  nginx: { probe: ['nginx', '-v'], from: 'Debian package nginx-light' },
  'systemd-socket-activate': { probe: ['systemd-socket-activate', '--help'], from: 'Debian package systemd' },
  tmux: { probe: ['tmux', '-V'], from: 'Debian package tmux' },
  ss: { probe: ['ss', '-V'], from: 'Debian package iproute2' },
  'script (a pseudo-terminal)': { probe: ['script', '--version'], from: 'util-linux, Debian package bsdutils' },
  taskset: { probe: ['taskset', '-c', '0', 'true'], from: 'Debian package util-linux' },
  'unshare --pid': { probe: ['unshare', ...UNSHARE_PID, 'true'], from: 'Debian package util-linux' },
} satisfies Record<string, Need>;

export type NeedName = keyof typeof NEEDS;

const found = new Map<NeedName, string | null>();
const printed = new Set<string>();

/** Prints `reason` once, then hands it back for `skipIf`; null (nothing missing) passes through. */
export function skipping(reason: string | null): string | null {
  if (reason !== null && !printed.has(reason)) {
    printed.add(reason);
    console.warn(`SKIP: ${reason}`);
  }
  return reason;
}

/** Why `name` cannot be used on this machine, or null when it can. */
export function missing(name: NeedName): string | null {
  if (!found.has(name)) found.set(name, check(name, NEEDS[name]));
  return skipping(found.get(name) ?? null);
}

function check(name: string, need: Need): string | null {
  const [command = '', ...args] = need.probe;
  const run = spawnSync(command, args, { encoding: 'utf8' });
  const reason = run.error
    ? `${command} is not installed (${need.from})`
    : run.status !== 0
      ? `\`${need.probe.join(' ')}\` fails here: ${firstLine(run.stderr)}`
      : need.shows && !need.shows.test(run.stdout)
        ? `this ${command} lacks it (${need.from})`
        : null;
  return reason === null || name === command ? reason : `no ${name}: ${reason}`;
}

const firstLine = (text: string) => text.trim().split('\n')[0] ?? '';

/** Why nothing can listen on the IPv6 loopback here, or null when it can. */
export async function missingIpv6(): Promise<string | null> {
  const probe = createServer();
  const listens = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
  return skipping(listens ? null : 'no IPv6 loopback on this machine');
}
