import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { parseResponses, sendRaw } from '../helpers/raw.js';

/**
 * The malformed-request corpus (test/corpus/NAME.STATUS.http, raw bytes) against both HTTP paths
 * and every worker class. Each case must get its status with a short plain-text body and
 * `Connection: close`, then the connection must close; the next good request on a fresh connection
 * must be served; and no request smuggled behind an ambiguous one (`/smuggled`) may reach the app.
 */

const CORPUS = join(ROOT, 'test/corpus');
const CASES = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.http'))
  .map((file) => {
    const m = /^(.+)\.(\d{3}(?:-\d{3})*)\.http$/.exec(file)!;
    return { name: m[1]!, statuses: m[2]!.split('-').map(Number), bytes: readFileSync(join(CORPUS, file)) };
  });

/** Both HTTP paths: a fetch app runs on gserve's engine, a node app on node:http. */
const ENGINES = [
  { name: 'engine (fetch app)', app: join(FIXTURES, 'apps/recorder-fetch.js') },
  { name: 'node:http (node app)', app: join(FIXTURES, 'apps/recorder-node.js') + ':app' },
];
/** Every worker class; `onePerConnection` classes answer only the first request on a connection. */
const CLASSES = [{ name: 'async', onePerConnection: false }];

const MATRIX = CLASSES.flatMap((cls) => ENGINES.map((engine) => ({ cls, engine })));

describe('the malformed-request corpus', () => {
  it('holds at least 60 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
  });

  it.each(MATRIX.map((m) => [`${m.cls.name} worker, ${m.engine.name}`, m] as const))('is refused case by case: %s', async (_label, { cls, engine }) => {
    const g = await startGserve(['-k', cls.name, '--limit-request-body', '1024', engine.app]);
    const failures: string[] = [];
    for (const c of CASES) {
      const expected = cls.onePerConnection ? c.statuses.slice(0, 1) : c.statuses;
      const { data, closed } = await sendRaw(g.port, c.bytes);
      let problem = '';
      try {
        const responses = parseResponses(data);
        const last = responses.at(-1);
        if (JSON.stringify(responses.map((r) => r.status)) !== JSON.stringify(expected)) problem = `statuses ${responses.map((r) => r.status)}, expected ${expected}`;
        else if (!closed) problem = 'connection left open';
        else if (expected.at(-1)! >= 400 && (last!.headers.connection !== 'close' || !/^text\/plain/.test(last!.headers['content-type'] ?? '') || last!.body.length < 10))
          problem = `refusal without Connection: close or a plain-text reason: ${JSON.stringify(last)}`;
      } catch (err) {
        problem = (err as Error).message;
      }
      const after = await get(`${g.url}/after-${c.name}`);
      if (after.status !== 200) problem += ` / the next good request got ${after.status}`;
      if (problem) failures.push(`${c.name}: ${problem}`);
    }
    expect(failures).toEqual([]);
    const seen = JSON.parse((await get(`${g.url}/__seen`)).body) as string[];
    expect(seen.filter((s) => s.includes('smuggled'))).toEqual([]);
    expect(seen.filter((s) => s.startsWith('GET /after-')).length).toBe(CASES.length);
    // One info line per refusal, naming the status and the reason.
    const refusals = g.lines.filter((l) => l.level === 30 && /^Refused request: \d{3} /.test(l.msg));
    expect(refusals.length).toBeGreaterThanOrEqual(CASES.length);
  });
});
