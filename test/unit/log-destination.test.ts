import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { LOG_BUFFER_MAX, standardStreamWriter } from '../../src/log/destination.js';

// The writer's own writes go through this mock; sonic-boom, loaded with require(), keeps the real fs.
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return { ...real, writeSync: vi.fn(real.writeSync) };
});
const { writeSync } = vi.mocked(fs);
const realWrite = (await vi.importActual<typeof import('node:fs')>('node:fs')).writeSync;

const dir = fs.mkdtempSync(join(tmpdir(), 'gserve-log-destination-'));
const fds: number[] = [];
beforeEach(() => {
  writeSync.mockClear();
});
afterAll(() => {
  for (const fd of fds) fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A write(2) that takes only the first `bytes` of what it is given. */
const writesOnly = (bytes: number) =>
  ((fd: number, buf: Uint8Array) => realWrite(fd, buf.subarray(0, bytes))) as unknown as typeof fs.writeSync;
/** A write(2) that fails with `code`. */
const failsWith = (code: string) => () => {
  throw Object.assign(new Error(code), { code });
};

/** A file opened for appending, standing in for the standard stream: its fd, and what it holds. */
function stream(name: string) {
  const path = join(dir, name);
  const fd = fs.openSync(path, 'a');
  fds.push(fd);
  return { fd, read: () => fs.readFileSync(path, 'utf8') };
}

describe('standardStreamWriter', () => {
  it('writes whole lines, looping over partial writes', () => {
    const out = stream('partial');
    writeSync.mockImplementationOnce(writesOnly(4));
    standardStreamWriter(out.fd as 2).write('Starting gserve\n');
    expect(out.read()).toBe('Starting gserve\n');
  });

  it('holds what a would-block stream (EAGAIN) left unwritten, and writes it in order, characters whole', () => {
    const out = stream('eagain');
    const writer = standardStreamWriter(out.fd as 2);
    // The é of "Café" is two bytes, and the write before the EAGAIN takes only the first of them
    // (the rest became U+FFFD when it was handed over as a string).
    writeSync.mockImplementationOnce(writesOnly(4)).mockImplementationOnce(failsWith('EAGAIN'));
    writer.write('Café first line\n');
    writer.write('second line\n');
    expect(out.read()).toBe('Caf\ufffd'); // the first 4 bytes; the rest is held, not lost
    writer.flush();
    expect(out.read()).toBe('Café first line\nsecond line\n');
  });

  it('never waits on a reader that does not read: holds at most LOG_BUFFER_MAX, flush() gives up in time', () => {
    const out = stream('stalled');
    const writer = standardStreamWriter(out.fd as 2);
    writeSync.mockImplementation(failsWith('EAGAIN'));
    const line = `${'x'.repeat(1024 * 1024 - 1)}\n`;
    for (let i = 0; i < 20; i++) writer.write(line); // returns at once, every time
    writer.flush(); // waits its LOG_FLUSH_WAIT_MS, then gives up
    writeSync.mockImplementation(realWrite);
    writer.flush();
    expect(fs.statSync(join(dir, 'stalled')).size).toBe(LOG_BUFFER_MAX);
  });

  it('writes a line longer than LOG_BUFFER_MAX whole to a reader that keeps up', () => {
    const out = stream('long-line');
    const line = `${'y'.repeat(LOG_BUFFER_MAX + 1024)}\n`;
    standardStreamWriter(out.fd as 2).write(line);
    expect(fs.statSync(join(dir, 'long-line')).size).toBe(line.length);
  });

  it('gives up a stream that failed otherwise (EPIPE): later lines are dropped, nothing throws', () => {
    const out = stream('epipe');
    const writer = standardStreamWriter(out.fd as 2);
    writeSync.mockImplementationOnce(failsWith('EPIPE'));
    writer.write('lost\n');
    writer.write('dropped too\n');
    writer.flush();
    expect(out.read()).toBe('');
    expect(writeSync).toHaveBeenCalledTimes(1);
  });
});
