import { spawn } from 'node:child_process';
import { BIN, ROOT } from './gserve.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `gserve ARGS` unchanged (no -b or --log-level added, unlike startGserve), for commands
 * that exit by themselves. A command that boots a server instead is killed at the deadline and the
 * result says so, so a regression fails instead of hanging.
 */
export function runCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; deadlineMs?: number; nodeArgs?: string[] } = {},
): Promise<CliResult & { killed: boolean }> {
  const env: Record<string, string | undefined> = { ...process.env, PORT: undefined, ...opts.env };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, opts.deadlineMs ?? 20_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed });
    }),
  );
}
