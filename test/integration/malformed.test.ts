import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { parseResponses, sendRaw } from '../helpers/raw.js';
import { CORPUS_CASES } from '../helpers/corpus.js';

/**
 * The malformed-request corpus (test/corpus/NAME.STATUS.http, raw bytes) against both HTTP paths
 * and every worker class. Each case must get its status with a short plain-text body and
 * `Connection: close`, then the connection must close; the next good request on a fresh connection
 * must be served; and no request smuggled behind an ambiguous one (`/smuggled`) may reach the app.
 */

const CASES = CORPUS_CASES;

/** Both HTTP paths: a fetch app runs on gserve's engine, a node app on node:http. */
const ENGINES = [
  { name: 'engine (fetch app)', app: join(FIXTURES, 'apps/recorder-fetch.js') },
  { name: 'node:http (node app)', app: join(FIXTURES, 'apps/recorder-node.js') + ':app' },
];
/** Every worker class; `onePerConnection` classes answer only the first request on a connection. */
const CLASSES = [
  { name: 'async', onePerConnection: false },
  { name: 'sync', onePerConnection: true },
  { name: 'thread', onePerConnection: false },
];

const MATRIX = CLASSES.flatMap((cls) => ENGINES.map((engine) => ({ cls, engine })));

describe('pipelining', () => {
  it.each(ENGINES)(
    'answers pipelined requests in order, a slow first one included, and 2000 in one write: $name',
    async ({ app }) => {
      const g = await startGserve(['--max-keepalive-requests', '0', app]);
      const pipeline = (paths: string[]) =>
        paths
          .map((p, i) => `GET ${p} HTTP/1.1\r\nHost: x${i === paths.length - 1 ? '\r\nConnection: close' : ''}\r\n\r\n`)
          .join('');
      const few = ['/slow', '/b', '/c', '/d'];
      const many = Array.from({ length: 2000 }, (_, i) => `/p${i}`);
      const [slowFirst, bulk] = await Promise.all([
        sendRaw(g.port, pipeline(few)),
        sendRaw(g.port, pipeline(many), { deadlineMs: 50_000 }),
      ]);
      expect(parseResponses(slowFirst.data).map((r) => `${r.status} ${r.body}`)).toEqual(
        few.map((p) => `200 ok 0 ${p}\n`),
      );
      expect(bulk.closed).toBe(true);
      expect(parseResponses(bulk.data).map((r) => r.body)).toEqual(many.map((p) => `ok 0 ${p}\n`));
    },
  );
});

describe.each(['async', 'sync'])('-k %s, node:http (node app): behind an answer that ends the connection', (cls) => {
  it('nothing pipelined runs: it could never be answered', async () => {
    const g = await startGserve(['-k', cls, ENGINES[1]!.app]);
    const behind = (name: string) => `POST /${name} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`;
    // The app's own `Connection: close`; under -k sync every answer ends its connection.
    const first = await sendRaw(g.port, `GET /close HTTP/1.1\r\nHost: x\r\n\r\n${behind('after-close')}`);
    expect(parseResponses(first.data).map((r) => r.body)).toEqual(['ok 0 /close\n']);
    const second = await sendRaw(g.port, `GET /first HTTP/1.1\r\nHost: x\r\n\r\n${behind('after-first')}`);
    expect(parseResponses(second.data).length).toBe(cls === 'sync' ? 1 : 2);
    const seen: string[] = JSON.parse((await get(`${g.url}/__seen`)).body);
    expect(seen).not.toContain('POST /after-close');
    // The same close given among a list of values, as setHeader takes them.
    const listed = await sendRaw(g.port, `GET /close-list HTTP/1.1\r\nHost: x\r\n\r\n${behind('after-list')}`);
    expect(parseResponses(listed.data).map((r) => r.body)).toEqual(['ok 0 /close-list\n']);
    expect(JSON.parse((await get(`${g.url}/__seen`)).body)).not.toContain('POST /after-list');
    if (cls === 'sync') expect(seen).not.toContain('POST /after-first');
    else expect(seen).toContain('POST /after-first');
  });
});

describe('the malformed-request corpus', () => {
  it('holds at least 60 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
  });

  it.each(MATRIX.map((m) => [`${m.cls.name} worker, ${m.engine.name}`, m] as const))(
    'is refused case by case: %s',
    async (_label, { cls, engine }) => {
      const g = await startGserve(['-k', cls.name, '--limit-request-body', '1024', engine.app]);
      const failures: string[] = [];
      const check = async (c: (typeof CASES)[number]) => {
        const expected = cls.onePerConnection ? c.statuses.slice(0, 1) : c.statuses;
        const { data, closed } = await sendRaw(g.port, c.bytes);
        let problem = '';
        try {
          const responses = parseResponses(data);
          const last = responses.at(-1);
          if (JSON.stringify(responses.map((r) => r.status)) !== JSON.stringify(expected))
            problem = `statuses ${responses.map((r) => r.status)}, expected ${expected}`;
          else if (!closed) problem = 'connection left open';
          else if (
            expected.at(-1)! >= 400 &&
            (last!.headers.connection !== 'close' ||
              !/^text\/plain/.test(last!.headers['content-type'] ?? '') ||
              last!.body.length < 10)
          )
            problem = `refusal without Connection: close or a plain-text reason: ${JSON.stringify(last)}`;
          // RFC 9110's name, on every path (Node's table still says Payload Too Large).
          else if (last!.status === 413 && !last!.body.startsWith('Content Too Large: '))
            problem = `413 not named Content Too Large: ${JSON.stringify(last!.body)}`;
        } catch (err) {
          problem = (err as Error).message;
        }
        const after = await get(`${g.url}/after-${c.name}`);
        if (after.status !== 200) problem += ` / the next good request got ${after.status}`;
        if (problem) failures.push(`${c.name}: ${problem}`);
      };
      // A few cases at a time: each on its own connections, so they cannot disturb one another.
      const queue = [...CASES];
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          for (let c = queue.shift(); c; c = queue.shift()) await check(c);
        }),
      );
      expect(failures).toEqual([]);
      const seen: string[] = JSON.parse((await get(`${g.url}/__seen`)).body);
      expect(seen.filter((s) => s.includes('smuggled'))).toEqual([]);
      expect(seen.filter((s) => s.startsWith('GET /after-')).length).toBe(CASES.length);
      // One info line per refusal, naming the status and the reason.
      // A one-request-per-connection class reads nothing after its first request, so a bad request
      // pipelined behind a good one is never parsed there (and never logged).
      const refused = CASES.filter(
        (c) => (cls.onePerConnection ? c.statuses.slice(0, 1) : c.statuses).at(-1)! >= 400,
      ).length;
      const refusals = await g.waitForLog(/^Refused request: \d{3} /, { count: refused });
      expect(refusals.every((l) => l.level === 30)).toBe(true);
    },
  );
});
