import { spawn } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, isAlive, runGserve, startGserve, tempDir, waitForExit } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';

/** The master's supervision rules from docs/signals.md, each against the real binary. */

const app = (name: string) => join(FIXTURES, 'apps', name);

describe('supervision', () => {
  it(
    'a handler that blocks its event loop forever gets its worker aborted after --timeout and replaced; ' +
      'the other keeps serving',
    async () => {
      const g = await startGserve(['-w', '2', '--timeout', '2', app('generation')]);
      const blocked = get(g.url + '/block').catch((err: Error) => err);
      const [line] = await g.waitForLog(/^WORKER TIMEOUT \(pid: \d+\): no heartbeat for 2 s/);
      const victim = Number(/pid: (\d+)/.exec(line!.msg)![1]);
      expect(await blocked).toBeInstanceOf(Error); // its connection died with it
      await waitForExit(victim);
      await g.waitForLog(new RegExp(`^Worker exited \\(pid: ${victim}\\): timed out after 2 s`));
      await g.waitForWorkers(3); // the replacement
      const served = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const r = await get(g.url);
        expect(r.status).toBe(200);
        served.add(String(r.headers['x-worker-pid']));
      }
      expect(served.has(String(victim))).toBe(false);
      expect(isAlive(g.pid)).toBe(true);
    },
  );

  it(
    'a master stopped for longer than --timeout (SIGSTOP, a paused container) kills, once it runs again, ' +
      'only the worker that is really blocked: the beats it missed meanwhile are read before it judges',
    async () => {
      const g = await startGserve(['-w', '2', '--timeout', '2', app('generation')]);
      const booted = g.lines.flatMap((l) => /^Worker ready \(pid: (\d+)\)/.exec(l.msg)?.[1] ?? []).map(Number);
      expect(booted).toHaveLength(2);
      const blocked = get(g.url + '/block').catch((err: Error) => err);
      process.kill(g.pid, 'SIGSTOP');
      try {
        // The fault itself: the master does not run for twice the timeout (not a wait for an outcome).
        await new Promise((resolve) => setTimeout(resolve, 4_000));
      } finally {
        process.kill(g.pid, 'SIGCONT');
      }
      const [line] = await g.waitForLog(/^WORKER TIMEOUT \(pid: \d+\): no heartbeat for 2 s/);
      const victim = Number(/pid: (\d+)/.exec(line!.msg)![1]);
      expect(await blocked).toBeInstanceOf(Error);
      await g.waitForWorkers(3); // the victim's replacement: the master has moved past that check
      expect(g.lines.filter((l) => /^WORKER TIMEOUT/.test(l.msg))).toHaveLength(1);
      const [healthy] = booted.filter((pid) => pid !== victim);
      expect(isAlive(healthy!)).toBe(true);
      expect(g.lines.some((l) => l.msg.includes(`(pid: ${healthy}): timed out`))).toBe(false);
    },
  );

  it('a master stopped in the middle of a HUP for longer than --timeout completes the reload: its new worker said it was ready meanwhile', async () => {
    const g = await startGserve(['-w', '1', '--timeout', '2', app('generation')]);
    g.signal('SIGHUP');
    await g.waitForLog(/^Booting worker/, { count: 2 }); // the new generation's worker
    process.kill(g.pid, 'SIGSTOP');
    try {
      // The fault itself: the master does not run for twice the timeout (not a wait for an outcome).
      await new Promise((resolve) => setTimeout(resolve, 4_000));
    } finally {
      process.kill(g.pid, 'SIGCONT');
    }
    const [outcome] = await g.waitForLog(/^(Reloaded|Reload failed)/);
    expect(outcome!.msg).toMatch(/^Reloaded: generation 1 is serving/);
  });

  it('a worker whose app never finishes loading is replaced after --timeout, and the log says it never got ready', async () => {
    const g = await startGserve(['--timeout', '2', app('never-loads.mjs')], { workers: 0 });
    const [line] = await g.waitForLog(/^WORKER TIMEOUT \(pid: \d+\): not ready after 2 s \(--timeout\)/);
    const victim = Number(/pid: (\d+)/.exec(line!.msg)![1]);
    await waitForExit(victim);
    await g.waitForLog(/^Booting worker/, { count: 2 }); // its replacement
    expect(isAlive(g.pid)).toBe(true);
  });

  it('a worker sent a TERM or QUIT by someone else stops and is replaced, with no crash counted', async () => {
    const g = await startGserve(['-w', '1', app('generation')]);
    for (const [signal, count] of [
      ['SIGTERM', 2],
      ['SIGQUIT', 3],
    ] as const) {
      const victim = [...g.workerPids].at(-1)!;
      expect((await get(g.url)).status).toBe(200); // it served: a healthy worker, not one dying at boot
      process.kill(victim, signal);
      await waitForExit(victim);
      await g.waitForLog(new RegExp(`^Worker exited \\(pid: ${victim}\\): stopped on a ${signal} sent to it$`));
      await g.waitForWorkers(count);
      expect((await get(g.url)).status).toBe(200);
    }
    // Gunicorn's arbiter replaces such a worker quietly: no warning, no crash-loop backoff.
    expect(g.lines.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([]);
  });

  it('an app that sends its worker a TERM right after each boot still gets the crash-loop backoff', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'app.mjs'),
      'setTimeout(() => process.kill(process.pid, "SIGTERM"), 50);\nexport const app = (req, res) => res.end("x");\n',
    );
    const g = await startGserve(['-w', '1', 'app.mjs'], { cwd: dir });
    await g.waitForLog(/^Workers are dying soon after boot \(\d+ in a row in this slot\); next respawn in \d+ ms$/);
    expect(g.lines.some((l) => /stopped on a SIGTERM sent to it$/.test(l.msg))).toBe(true);
  });

  it('--max-requests with jitter recycles a worker gracefully, and every request is answered', async () => {
    const g = await startGserve(['--max-requests', '5', '--max-requests-jitter', '2', app('generation')]);
    const pids = new Set<string>();
    // Until the replacement answers: the worker goes on serving until the master's stop reaches it,
    // which on a loaded machine can take more than the few requests the limit allows.
    for (let i = 0; i < 500 && pids.size < 2; i++) {
      const r = await get(g.url);
      expect(r.status).toBe(200);
      pids.add(String(r.headers['x-worker-pid']));
    }
    expect(pids.size).toBe(2);
    const [first] = await g.waitForLog(/^Recycling worker \(pid: \d+\): served \d+ requests \(maxRequests\)/);
    expect(Number(/served (\d+)/.exec(first!.msg)![1])).toBeGreaterThanOrEqual(5);
    expect(Number(/served (\d+)/.exec(first!.msg)![1])).toBeLessThanOrEqual(7);
    expect(g.lines.some((l) => /was killed|exited with code/.test(l.msg))).toBe(false);
  });

  it('--max-worker-memory recycles a worker whose RSS passes the ceiling', async () => {
    // The least allowed: below any Node worker's own RSS, so the first sample passes it.
    const g = await startGserve(['--max-worker-memory', '32MiB', app('generation')]);
    const [line] = await g.waitForLog(
      /^Recycling worker \(pid: \d+\): memory [\d.]+ MB passed the ceiling of 33\.6 MB \(maxWorkerMemory\)/,
    );
    const pid = Number(/pid: (\d+)/.exec(line!.msg)![1]);
    await g.waitForLog(new RegExp(`^Worker exited \\(pid: ${pid}\\): recycled`));
    expect((await get(g.url)).status).toBe(200);
  });

  it('an app that cannot load halts the master with exit code 4, without a respawn loop', async () => {
    const r = await runGserve(['-w', '2', app('throws-at-load')]);
    expect(r.code).toBe(4);
    expect(r.g.lines.filter((l) => /^Booting worker/.test(l.msg)).length).toBeLessThanOrEqual(2);
    expect(r.stderr).toMatch(/gserve: error: Failed to load app module .*database URL is not set/);
  });

  it('workers crashing soon after boot are respawned with growing delays; TERM still stops the master', async () => {
    const g = await startGserve([app('crash-soon')], { workers: 0 });
    const lines = await g.waitForLog(/^Workers are dying soon after boot/, { count: 4 });
    const delays = lines.map((l) => Number(/next respawn in (\d+) ms/.exec(l.msg)![1]));
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBe(delays[i - 1]! * 2);
    g.signal('SIGTERM');
    expect((await g.exited).code).toBe(0);
  });

  it('refuses a pidfile held by a live master, and takes over a stale one', async () => {
    const dir = tempDir();
    const pidfile = join(dir, 'g.pid');
    const first = await startGserve(['-p', pidfile, app('node-pid')]);
    const second = await runGserve(['-p', pidfile, app('node-pid')]);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(
      `Pidfile ${pidfile} is held by a running master (pid ${first.pid}). Stop it first, or give another --pid.`,
    );
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(first.pid));
    expect((await get(first.url)).status).toBe(200);
    first.child.kill('SIGKILL'); // leaves a stale pidfile behind
    await first.exited;
    const third = await startGserve(['-p', pidfile, app('node-pid')]);
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(third.pid));
  });

  it('replaces a symlink planted at the pidfile path instead of writing through it', async () => {
    const dir = tempDir();
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    const pidfile = join(dir, 'g.pid');
    symlinkSync(victim, pidfile);
    const g = await startGserve(['-p', pidfile, app('node-pid')]);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(pidfile).isSymbolicLink()).toBe(false);
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(g.pid));
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('takes over a pidfile naming init, -1 or a live process that is not gserve (a pid reused after a restart), even one whose command line names gserve', async () => {
    const pidfile = join(tempDir(), 'g.pid');
    const unrelated = spawn('sleep', ['120'], { stdio: 'ignore' });
    // Its command line says gserve, but it runs no gserve: `tail -f gserve.log` refused the start.
    const log = join(tempDir(), 'gserve.log');
    writeFileSync(log, '');
    const mentions = spawn('tail', ['-f', log], { stdio: 'ignore' });
    try {
      for (const held of ['1', '-1', String(unrelated.pid), String(mentions.pid)]) {
        writeFileSync(pidfile, `${held}\n`);
        const g = await startGserve(['-p', pidfile, app('node-pid')]);
        expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(g.pid));
        g.signal('SIGTERM');
        expect((await g.exited).code).toBe(0);
      }
      expect(isAlive(unrelated.pid!)).toBe(true); // named in the pidfile, never signalled
    } finally {
      unrelated.kill('SIGKILL');
      mentions.kill('SIGKILL');
    }
  });
});

describe('server hooks', () => {
  it('run in the master and in the workers; a hook that throws is logged by name and the server goes on', async () => {
    const dir = tempDir();
    const events = join(dir, 'events.log');
    const config = join(dir, 'gserve.config.cjs');
    const record = (name: string, extra = '') =>
      `${name}: (...a) => require('fs').appendFileSync(${JSON.stringify(events)}, ` +
      `'${name} ' + process.pid + ${extra || "''"} + '\\n')`;
    writeFileSync(
      config,
      `module.exports = {
        app: ${JSON.stringify(app('generation'))},
        ${record('onStarting')}, ${record('whenReady')}, ${record('preFork')}, ${record('postFork')},
        ${record('postWorkerInit')}, ${record('onReload')}, ${record('childExit')}, ${record('workerExit')},
        ${record('workerInt')}, ${record('workerAbort')}, ${record('onExit')},
        ${record('nworkersChanged', "' ' + a[1] + '<-' + a[2]")},
        ${record('preRequest', "' ' + a[1].url")},
        postRequest: () => { throw new Error('metrics backend down'); },
      };\n`,
    );
    const g = await startGserve(['-c', config]);
    const r = await get(g.url + '/hello');
    expect(r.status).toBe(200);
    await g.waitForLog(/^The postRequest hook failed: metrics backend down/);
    g.signal('SIGHUP');
    await g.waitForLog(/^Worker exited .*: reloaded/);
    g.signal('SIGTTIN');
    await g.waitForWorkers(3);
    const [aborted] = [...g.workerPids].filter(isAlive);
    process.kill(aborted!, 'SIGABRT'); // what a heartbeat timeout sends first
    await g.waitForLog(new RegExp(`^Worker \\(pid: ${aborted}\\) exited with code 134`));
    await g.waitForWorkers(4);
    g.signal('SIGINT');
    expect((await g.exited).code).toBe(0);
    await pollUntil(() => readFileSync(events, 'utf8').includes('onExit'), 'onExit');

    const seen = readFileSync(events, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    const pidsOf = (name: string) => seen.filter(([n]) => n === name).map(([, pid]) => Number(pid));
    for (const name of ['onStarting', 'whenReady', 'preFork', 'onReload', 'childExit', 'onExit', 'nworkersChanged']) {
      expect(pidsOf(name).length, name).toBeGreaterThan(0);
      expect(new Set(pidsOf(name)), name).toEqual(new Set([g.pid])); // master-side
    }
    for (const name of ['postFork', 'postWorkerInit', 'preRequest', 'workerExit', 'workerInt', 'workerAbort']) {
      expect(pidsOf(name).length, name).toBeGreaterThan(0);
      for (const pid of pidsOf(name)) expect(g.workerPids.has(pid), name).toBe(true); // worker-side
    }
    expect(seen.find(([n]) => n === 'preRequest')![2]).toBe('/hello');
    expect(pidsOf('workerAbort')).toEqual([aborted]);
    expect(seen.find(([n]) => n === 'nworkersChanged')!.slice(2)).toEqual(['2<-1']);
    expect(seen[0]![0]).toBe('onStarting');
    expect(seen.at(-1)![0]).toBe('onExit');
  });

  // The servers emit 'request' only once something listens (whenListened): a preRequest hook must
  // still be called for every request, on node:http's path and on the engine's.
  it.each([
    ['node', app('generation.js')],
    ['fetch', app('generation-fetch.js')],
  ])('calls preRequest and postRequest for every request (%s interface)', async (_kind, appPath) => {
    const dir = tempDir();
    const events = join(dir, 'events.log');
    const config = join(dir, 'gserve.config.cjs');
    const record = (name: string) =>
      `${name}: (w, req) => require('fs').appendFileSync(${JSON.stringify(events)}, '${name} ' + req.url + '\\n')`;
    writeFileSync(
      config,
      `module.exports = { app: ${JSON.stringify(appPath)}, workers: 1, ${record('preRequest')}, ${record('postRequest')} };\n`,
    );
    const g = await startGserve(['-c', config]);
    for (const path of ['/one', '/two']) expect((await get(g.url + path)).status).toBe(200);
    await pollUntil(() => readFileSync(events, 'utf8').split('\n').length > 4, 'four hook calls');
    expect(readFileSync(events, 'utf8').trim().split('\n')).toEqual([
      'preRequest /one',
      'postRequest /one',
      'preRequest /two',
      'postRequest /two',
    ]);
  });

  it('onStarting that throws aborts start-up with one clear line', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'gserve.config.cjs'),
      `module.exports = { onStarting() { throw new Error('vault is sealed'); } };\n`,
    );
    const r = await runGserve([app('node-pid')], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'gserve: error: The onStarting hook failed: vault is sealed. Fix the hook in the config file; ' +
        'gserve did not start. [GSERVE_E_HOOK]',
    );
    expect(r.g.lines.some((l) => /^Booting worker/.test(l.msg))).toBe(false);
  });
});
