import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, FIXTURES, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { pollUntil } from '../helpers/poll.js';
import { descendants } from './proc.js';

const app = join(FIXTURES, 'apps/node-pid.js');

const pidIn = (body: string) => Number(/^pid (\d+)$/m.exec(body)?.[1]);

describe('the error log on a stderr whose reader went away', () => {
  // `gserve app | head -1`, or a log shipper that died: every line written after is an EPIPE. The
  // lines are lost; the server is not.
  it('serves, reloads on HUP and stops cleanly on TERM, writing nothing it cannot', async () => {
    const g = await startGserve(['-w', '1', '--log-level', 'debug', app]);
    const url = g.url;
    const [first] = [...g.workerPids];
    g.child.stderr!.destroy();

    const before = await get(url);
    expect(before.status).toBe(200);
    expect(pidIn(before.body)).toBe(first);

    // A reload logs a dozen lines in the master and the new worker, each one now an EPIPE.
    g.signal('SIGHUP');
    const replaced = await pollUntil(async () => {
      const res = await get(url).catch(() => null);
      return res?.status === 200 && pidIn(res.body) !== first && pidIn(res.body);
    }, 'a new worker to answer after the HUP');
    expect(descendants(g.pid).map((p) => p.pid)).toContain(replaced);

    g.signal('SIGTERM');
    expect(await g.exited).toEqual({ code: 0, signal: null });
  });
});

describe('the logs on a pipe whose reader stopped reading', () => {
  // `gserve … 2>&1 | less` left paused, or a log shipper that stalls: the pipe fills, and the
  // master waited on its next line for good, TERM and `gserve stop` included.
  it('goes on hearing signals: TERM stops it, the lines it could not write dropped', async () => {
    const dir = tempDir();
    const spam = join(dir, 'spam.mjs');
    // 256 KiB of stderr per request: more than a pipe holds.
    writeFileSync(
      spam,
      'const line = "x".repeat(1023) + "\\n";\n' +
        'export function app(req, res) {\n' +
        '  for (let i = 0; i < 256; i++) process.stderr.write(line);\n' +
        '  res.end("spammed\\n");\n' +
        '}\n',
    );
    // A FIFO opened for reading and never read: a pipe that fills and stays full.
    const fifo = join(dir, 'log.fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, 'w');
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [BIN, '-b', `127.0.0.1:${port}`, '-w', '1', '--access-logfile', '-', `${spam}:app`],
      {
        stdio: ['ignore', writer, writer],
      },
    );
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      const url = `http://127.0.0.1:${port}/`;
      await pollUntil(
        () =>
          get(url).then(
            (r) => r.status === 200,
            () => false,
          ),
        'the server to answer',
      );
      for (let i = 0; i < 4; i++) expect((await get(url)).body).toBe('spammed\n');
      // The master's next lines meet the full pipe.
      child.kill('SIGHUP');
      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      closeSync(writer);
      closeSync(reader);
    }
  });
});
