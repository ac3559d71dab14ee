import { existsSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve, tempDir, waitForExit } from '../helpers/gserve.js';
import { type LoadResult, runLoad } from '../helpers/load.js';
import { pollUntil } from '../helpers/poll.js';
import { killQuietly, usr2 } from '../helpers/signals.js';

/**
 * The acceptance runs of issue 4: a bounded client (5,000 requests over 20 keep-alive connections,
 * every 10th on a new connection, nothing retried) while the master reloads or is upgraded.
 * Every request must get a 200, and the responses must come from more than one generation.
 */

const apps = {
  'node:http path': join(FIXTURES, 'apps', 'generation'),
  'gserve engine': join(FIXTURES, 'apps', 'generation-fetch'),
};
const LOAD = { total: 5000, connections: 20, freshEvery: 10, header: 'x-served-by' } as const;

describe.each(Object.entries(apps))('no request dropped (%s)', (_path, app) => {
  it('while the master gets HUP five times', async () => {
    const g = await startGserve(['-w', '2', app], { workers: 2 });
    const reloads = (async () => {
      for (let n = 1; n <= 5; n++) {
        g.signal('SIGHUP');
        await g.waitForLog(/^Reloaded: generation \d+ is serving/, { count: n, timeoutMs: 60_000 });
      }
    })();
    const result = await runLoad({ url: g.url, ...LOAD, until: reloads });
    await reloads;
    expect(result.errors).toEqual([]);
    expect([...result.statuses.keys()]).toEqual([200]);
    expect(result.total).toBeGreaterThanOrEqual(5000);
    const generations = new Set([...result.seen.keys()].map((s) => s.split('/')[1]));
    expect(generations.size).toBeGreaterThanOrEqual(2);
    expect(g.lines.filter((l) => /^Worker exited .*: reloaded$/.test(l.msg)).length).toBeGreaterThanOrEqual(8);
    expect(g.lines.some((l) => /was killed|exited with code/.test(l.msg))).toBe(false);
  });

  it('through USR2, then WINCH and TERM of the old master', async () => {
    const pidfile = join(tempDir(), 'g.pid');
    const g = await startGserve(['-w', '2', '-p', pidfile, app], { workers: 2 });
    let newMaster = 0;
    const upgrade = (async () => {
      newMaster = await usr2(g, pidfile);
      g.signal('SIGWINCH');
      await g.waitForLog(/^Worker exited .*: scaled down$/, { count: 2, timeoutMs: 60_000 });
      g.signal('SIGTERM');
      await g.exited;
    })();
    try {
      const result = await runLoad({ url: g.url, ...LOAD, until: upgrade });
      await upgrade;
      expect(result.errors).toEqual([]);
      expect([...result.statuses.keys()]).toEqual([200]);
      const masters = new Set([...result.seen.keys()].map((s) => Number(s.split('/')[0])));
      expect(masters).toEqual(new Set([g.pid, newMaster]));
      expect(g.exitCode).toBe(0);
      await waitForExit(g.pid);
    } finally {
      if (newMaster) killQuietly(newMaster);
    }
  });
});

describe('-k sync: no request dropped through USR2, where the master itself accepts', () => {
  // The old master must stop accepting once it has no workers to hand connections to (WINCH), or
  // when it stops while the new master serves (TERM), without closing the socket both share.
  const upgradeUnderLoad = async (bind: string[], socketPath: string | undefined, winch: boolean) => {
    const dir = tempDir();
    const pidfile = join(dir, 'g.pid');
    const g = await startGserve(['-k', 'sync', '-w', '2', '-p', pidfile, ...bind, apps['gserve engine']], {
      workers: 2,
    });
    const url = socketPath ? 'http://localhost/' : g.url;
    const servedBy = (r: LoadResult) => new Set([...r.seen.keys()].map((s) => Number(s.split('/')[0])));
    let newMaster = 0;
    let betweenWinchAndTerm: LoadResult | null = null;
    const upgrade = (async () => {
      newMaster = await usr2(g, pidfile);
      if (winch) {
        g.signal('SIGWINCH');
        await g.waitForLog(/^Worker exited .*: scaled down$/, { count: 2, timeoutMs: 60_000 });
        // The old master, with no workers now, must leave every new connection to the new one.
        betweenWinchAndTerm = await runLoad({ url, socketPath, ...LOAD, total: 300 });
      }
      g.signal('SIGTERM');
      await g.exited;
    })();
    try {
      const result = await runLoad({ url, socketPath, ...LOAD, total: 2000, until: upgrade });
      await upgrade;
      expect(result.errors).toEqual([]);
      expect([...result.statuses.keys()]).toEqual([200]);
      expect(servedBy(result)).toEqual(new Set([g.pid, newMaster]));
      expect(g.exitCode).toBe(0);
      if (winch) {
        expect(betweenWinchAndTerm!.errors).toEqual([]);
        expect(servedBy(betweenWinchAndTerm!)).toEqual(new Set([newMaster]));
      }
      // Served by the new master alone now.
      const after = await runLoad({ url, socketPath, ...LOAD, total: 100 });
      expect(after.errors).toEqual([]);
      expect(servedBy(after)).toEqual(new Set([newMaster]));
    } finally {
      if (newMaster) killQuietly(newMaster);
    }
  };

  it('USR2, WINCH, then TERM of the old master (TCP)', () => upgradeUnderLoad([], undefined, true));

  it('USR2, then TERM of the old master at once (unix: socket)', async () => {
    const sock = join(tempDir(), 'app.sock');
    await upgradeUnderLoad(['-b', `unix:${sock}`], sock, false);
  });
});

describe('graceful stop of a keep-alive connection (gserve engine)', () => {
  it(
    'a response the app finishes after the stop began says Connection: close, ' +
      'so the client does not reuse the connection',
    async () => {
      const mark = join(tempDir(), 'started');
      const g = await startGserve(['-e', `MARK_FILE=${mark}`, join(FIXTURES, 'apps', 'wait-fetch')]);
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const send = (path: string) =>
        new Promise<{ headers: Record<string, unknown>; body: string }>((resolve, reject) => {
          request(g.url + path, { agent }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (c) => (body += c));
            res.on('end', () => resolve({ headers: res.headers, body }));
          })
            .on('error', reject)
            .end();
        });
      try {
        const inFlight = send('/?ms=3000');
        await pollUntil(() => existsSync(mark) && readFileSync(mark, 'utf8').length > 0, 'the app to get the request');
        g.signal('SIGWINCH'); // the worker drains while the app is still working on the request
        const first = await inFlight;
        expect(first.body).toBe('done 0\n');
        expect(first.headers.connection).toBe('close');
        g.signal('SIGTTIN');
        await g.waitForWorkers(2);
        expect((await send('/')).body).toBe('done 0\n'); // on a new connection, not a reset of the old one
      } finally {
        agent.destroy();
      }
    },
  );
});
