// One running contender: started from a command, ready at its first 200 with all its processes up, stopped by PID.
import { lastLine, processTree, spawnServer, waitFor200, killPids, waitGone, sleep, isAlive } from '../lib/proc.js';

/** Every server started and not yet stopped: killed by PID if the harness is interrupted or exits early. */
export const liveServers = new Set();

process.once('exit', () => {
  // Synchronous last resort (an 'exit' handler cannot wait): SIGKILL every PID we know of.
  for (const server of liveServers) killPids(server.knownPids());
});

/** Raised when a contender cannot start here: the harness prints the reason and skips its row. */
export class StartError extends Error {}

/**
 * Starts `cmd args` as a server on `port` and resolves once it answers 200 and its process tree holds at least
 * `expectProcs` processes (master + workers), so no measurement runs while workers are still booting.
 * `rootPid()` names the process whose tree is the server (PM2: its daemon, not the CLI that started it);
 * `onStop()` removes what the server left behind (temp dirs), once its processes are gone.
 */
export async function startServer({
  label,
  cmd,
  args,
  port,
  expectProcs = 1,
  env,
  cwd,
  rootPid,
  onStop,
  timeoutMs = 30_000,
}) {
  const t0 = performance.now();
  const proc = spawnServer(cmd, args, { env: { ...process.env, ...env }, cwd });
  const root = () => (rootPid ? rootPid() : proc.child.pid);
  const seen = new Set([proc.child.pid]);
  const alive = () => {
    if (proc.exited && !rootPid) return `${label} exited at start-up: ${lastLine(proc.output)}`;
    if (proc.exited?.error) return `${label} could not be started: ${proc.exited.error.message}`;
    return true;
  };
  const server = {
    label,
    port,
    proc,
    get output() {
      return proc.output;
    },
    rootPid: root,
    pids() {
      const r = root();
      const tree = r ? processTree(r) : [];
      for (const p of tree) seen.add(p);
      return tree;
    },
    knownPids: () => [...new Set([...server.pids(), ...seen])].filter(isAlive),
    async stop() {
      liveServers.delete(server);
      const pids = server.knownPids();
      killPids(pids);
      await waitGone(pids);
      onStop?.();
    },
  };
  liveServers.add(server);
  try {
    await waitFor200(port, { timeoutMs, alive });
    server.coldStartMs = performance.now() - t0;
    const deadline = Date.now() + timeoutMs;
    while (server.pids().length < expectProcs) {
      if (Date.now() > deadline)
        throw new Error(`${label}: only ${server.pids().length} of ${expectProcs} processes came up`);
      await sleep(20);
    }
  } catch (err) {
    await server.stop();
    const said = lastLine(proc.output);
    throw new StartError(err.message.includes(said) ? err.message : `${err.message} (its last words: ${said})`);
  }
  return server;
}
