import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ask } from '../../src/cli/control-client.js';
import type { ArbiterEventMap } from '../../src/master/arbiter-events.js';
import { type ArbiterSnapshot, ControlServer, type Controllable } from '../../src/master/control.js';
import type { WorkerProcess } from '../../src/master/worker-process.js';
import { WorkerStatsBook } from '../../src/master/worker-stats.js';

/** An arbiter reduced to what the control socket sees: a snapshot, its events, and the handlers. */
class FakeArbiter implements Controllable {
  readonly events = new EventEmitter<ArbiterEventMap>();
  generation = 0;
  reloadsBegun = 0;
  workers: Array<Pick<WorkerProcess, 'pid' | 'generation' | 'state' | 'bornAt'>> = [];
  onReload: () => void = () => {};

  snapshot(): ArbiterSnapshot {
    return {
      pid: process.pid,
      startedAt: Date.now(),
      bind: [],
      workerClass: 'async',
      target: 1,
      generation: this.generation,
      stopping: false,
      reloading: false,
      gracefulTimeout: 1,
      workers: this.workers as unknown as WorkerProcess[],
    };
  }
  reload(): number {
    const ticket = this.reloadsBegun + 1;
    setImmediate(() => this.onReload());
    return ticket;
  }
  scale(): void {}
  stop(): void {}
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function serve(arbiter: FakeArbiter): Promise<{ path: string; server: ControlServer }> {
  const dir = mkdtempSync(join(tmpdir(), 'gserve-control-'));
  dirs.push(dir);
  const path = join(dir, 'gserve.ctl');
  const server = new ControlServer(path, arbiter, new WorkerStatsBook(), pino({ level: 'silent' }));
  expect(await server.start()).toBe(true);
  return { path, server };
}

describe('control socket reload, driven by the arbiter events', () => {
  it('answers once the new generation serves alone', async () => {
    const arbiter = new FakeArbiter();
    arbiter.workers = [{ pid: 1, generation: 0, state: 'ready', bornAt: 0 }];
    arbiter.onReload = () => {
      const ticket = ++arbiter.reloadsBegun;
      arbiter.generation = 1;
      arbiter.events.emit('reload-start', ticket, 1);
      arbiter.workers = [...arbiter.workers, { pid: 2, generation: 1, state: 'ready', bornAt: 1 }];
      arbiter.events.emit('reload', { ticket, ok: true, generation: 1 });
      setTimeout(() => {
        arbiter.workers = arbiter.workers.filter((w) => w.pid !== 1);
        arbiter.events.emit('exit', arbiter.workers[0] as unknown as WorkerProcess, false);
      }, 50);
    };
    const { path, server } = await serve(arbiter);
    const reply = await ask(path, { cmd: 'reload' });
    server.close();
    expect(reply.ok).toBe(true);
    expect(reply.number('generation')).toBe(1);
    expect(reply.pids('workers')).toEqual([2]);
  });

  it('reports a rolled-back reload at once, and ignores the outcome of a reload already under way', async () => {
    const arbiter = new FakeArbiter();
    arbiter.workers = [{ pid: 1, generation: 0, state: 'ready', bornAt: 0 }];
    arbiter.onReload = () => {
      // The outcome of an earlier reload (ticket 1) arrives first, then this request's own (ticket 2).
      arbiter.reloadsBegun = 2;
      arbiter.events.emit('reload', { ticket: 1, ok: true, generation: 0 });
      arbiter.events.emit('reload-start', 2, 2);
      arbiter.events.emit('reload', { ticket: 2, ok: false, started: true, generation: 0 });
    };
    arbiter.reloadsBegun = 1;
    const { path, server } = await serve(arbiter);
    const started = Date.now();
    const reply = await ask(path, { cmd: 'reload' });
    server.close();
    expect(reply.ok).toBe(false);
    expect(reply.error).toMatch(/^reload failed, the old workers keep serving \(0 of 1 new workers ready\)/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('says the reload did not start when the arbiter refuses it', async () => {
    const arbiter = new FakeArbiter();
    arbiter.onReload = () => {
      const ticket = ++arbiter.reloadsBegun;
      arbiter.events.emit('reload', { ticket, ok: false, started: false, generation: 0 });
    };
    const { path, server } = await serve(arbiter);
    const reply = await ask(path, { cmd: 'reload' });
    server.close();
    expect(reply.ok).toBe(false);
    expect(reply.error).toMatch(/^the master did not start a reload within \d+ s/);
  });

  it('names the reason of a reload refused before any worker was forked (a broken config file)', async () => {
    const arbiter = new FakeArbiter();
    arbiter.onReload = () => {
      const ticket = ++arbiter.reloadsBegun;
      const reason = 'Could not read config file /x/gserve.config.mjs: Unexpected end of input.';
      arbiter.events.emit('reload', { ticket, ok: false, started: false, generation: 0, reason });
    };
    const { path, server } = await serve(arbiter);
    const reply = await ask(path, { cmd: 'reload' });
    server.close();
    expect(reply.ok).toBe(false);
    expect(reply.error).toBe(
      'reload failed, keeping the running settings and workers: Could not read config file /x/gserve.config.mjs: ' +
        'Unexpected end of input.',
    );
  });
});
