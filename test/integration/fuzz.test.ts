import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, startGserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { parseResponses, sendRaw } from '../helpers/raw.js';

/**
 * Random and mutated requests, seeded so a failure can be replayed (FUZZ_SEED=n). Every one must
 * end in well-formed responses or a close, never a hang, and the worker must survive them all and
 * answer a good request afterwards.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const PER_ENGINE = 1500;
const CONCURRENCY = 48;

/** mulberry32: small, fast, good enough to spread mutations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEMPLATES = [
  'GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n',
  'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world',
  'POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n' +
    '0\r\nX-Trailer: t\r\n\r\n',
  'GET /keep HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  'PUT /p HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc',
  'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
];
const SPECIAL = [
  '\r',
  '\n',
  '\r\n',
  ' ',
  '\t',
  '\0',
  ':',
  ',',
  ';',
  '"',
  '\x7f',
  '\xff',
  '\x01',
  '0',
  'f',
  '-',
  '\r\n ',
  '\r\n\r\n',
];
const HEADER_LINES = [
  'Transfer-Encoding: chunked\r\n',
  'Content-Length: 3\r\n',
  'Content-Length: 99999999999999999999\r\n',
  'Transfer-Encoding: gzip\r\n',
  'Host: y\r\n',
  ' folded\r\n',
  'Bad Name: v\r\n',
  `X-Long: ${'L'.repeat(9000)}\r\n`,
  'Connection: close\r\n',
  'Expect: 100-continue\r\n',
];

function mutate(random: () => number): string {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  let s = pick(TEMPLATES);
  const rounds = 1 + Math.floor(random() * 3);
  for (let i = 0; i < rounds; i++) {
    const at = Math.floor(random() * (s.length + 1));
    switch (Math.floor(random() * 7)) {
      case 0: // flip one byte
        s = s.slice(0, at) + String.fromCharCode(Math.floor(random() * 256)) + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at) + pick(SPECIAL) + s.slice(at);
        break;
      case 2: // delete a run
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(random() * 8));
        break;
      case 3: {
        // add a header line right after the request line
        const eol = s.indexOf('\r\n') + 2;
        s = s.slice(0, eol) + pick(HEADER_LINES) + s.slice(eol);
        break;
      }
      case 4: // truncate
        s = s.slice(0, at);
        break;
      case 5: // duplicate a slice (pipelining, repeated headers)
        s = s.slice(0, at) + s.slice(Math.floor(random() * s.length), at) + s.slice(at);
        break;
      default: // random bytes
        s =
          s.slice(0, at) +
          Array.from({ length: 1 + Math.floor(random() * 16) }, () =>
            String.fromCharCode(Math.floor(random() * 256)),
          ).join('') +
          s.slice(at);
    }
  }
  return s;
}

const ENGINES = [
  { name: 'engine (fetch app)', app: join(FIXTURES, 'apps/recorder-fetch.js'), offset: 0 },
  { name: 'node:http (node app)', app: join(FIXTURES, 'apps/recorder-node.js') + ':app', offset: 1 },
  // The thread class: the main thread's engine in front, the app in a thread.
  {
    name: 'thread class (fetch app)',
    app: join(FIXTURES, 'apps/recorder-fetch.js'),
    offset: 2,
    args: ['-k', 'thread', '--threads', '2'],
  },
  {
    name: 'thread class (node app)',
    app: join(FIXTURES, 'apps/recorder-node.js') + ':app',
    offset: 3,
    args: ['-k', 'thread', '--threads', '2'],
  },
  // The sync class: the master holds each connection until its head is whole (or plainly bad).
  { name: 'sync class (fetch app)', app: join(FIXTURES, 'apps/recorder-fetch.js'), offset: 4, args: ['-k', 'sync'] },
  {
    name: 'sync class (node app)',
    app: join(FIXTURES, 'apps/recorder-node.js') + ':app',
    offset: 5,
    args: ['-k', 'sync'],
  },
];

describe.each(ENGINES)('fuzzing, $name', ({ app, offset, args = [] }) => {
  it(`ends each of ${PER_ENGINE} mutated requests in a response or a close, keeps serving (seed ${SEED})`, async () => {
    const g = await startGserve([
      ...args,
      '--limit-request-body',
      '4096',
      '--header-timeout',
      '1',
      '--request-timeout',
      '1',
      app,
    ]);
    const random = rng(SEED + offset);
    const inputs = Array.from({ length: PER_ENGINE }, () => mutate(random));
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < inputs.length) {
        const index = next++;
        const input = inputs[index]!;
        // Half of them are followed by the client's FIN, the rest leave the connection open.
        const { data, closed } = await sendRaw(g.port, Buffer.from(input, 'latin1'), {
          halfClose: index % 2 === 0,
          deadlineMs: 30_000,
        });
        if (!closed && data.length === 0)
          problems.push(`#${index}: no response and no close: ${JSON.stringify(input.slice(0, 120))}`);
        try {
          for (const r of parseResponses(data)) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        } catch (err) {
          problems.push(
            `#${index}: ${(err as Error).message} in ${JSON.stringify(data.toString('latin1').slice(0, 200))} ` +
              `for ${JSON.stringify(input.slice(0, 120))}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(problems).toEqual([]);
    // Both the good and the refused paths were exercised.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(PER_ENGINE / 10);
    expect((await get(`${g.url}/after-fuzz`)).status).toBe(200);
    // The same worker answered throughout: none crashed and was replaced.
    expect(g.workerPids.size).toBe(1);
    expect(g.lines.filter((l) => /exited|Unhandled/.test(l.msg))).toEqual([]);
  });
});
