// wrk, when installed: the preferred load generator for throughput (C, one thread, cheap on the shared cores).
import { spawn } from 'node:child_process';
import { which } from './proc.js';

export const WRK = which('wrk');

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : null;
}

/** Parses wrk's --latency report. */
export function parseWrk(out) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  const total = /(\d+) requests in/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  // Every socket error counts: wrk reconnects quietly after a clean `Connection: close`, so a read error is a reset.
  const failed =
    (non2xx ? Number(non2xx[1]) : 0) +
    (sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0);
  if (!rps) throw new Error(`could not read wrk's output: ${out.slice(0, 300)}`);
  return {
    rps: Number(rps[1]),
    p50: p50 ? toMs(p50[1]) : null,
    p99: p99 ? toMs(p99[1]) : null,
    requests: total ? Number(total[1]) : null,
    failed,
  };
}

/** Runs wrk with one thread against 127.0.0.1:port; `cpu`: pinned to that CPU with taskset. */
export function runWrk({ port, path = '/', durationMs, connections, close = false, cpu }) {
  const args = [
    '-t1',
    `-c${connections}`,
    `-d${Math.max(1, Math.round(durationMs / 1000))}s`,
    '--latency',
    '--timeout',
    '10s',
  ];
  if (close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}${path}`);
  return new Promise((resolve, reject) => {
    const [cmd, argv] = cpu === undefined ? [WRK, args] : ['taskset', ['-c', String(cpu), WRK, ...args]];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('exit', () => {
      try {
        resolve(parseWrk(out));
      } catch (err) {
        reject(err);
      }
    });
  });
}
