import type { Readable } from 'node:stream';
import type { LogTarget } from './logger.js';

/**
 * `--capture-output`: a worker's stdout and stderr are pipes to the master, read here line by
 * line. A line that is already one of gserve's JSON log lines (the worker's own pino output)
 * passes through unchanged; anything else (console.log, a crash's stack) becomes one log event
 * per line, tagged with the worker's pid and the stream. Nothing in the worker is patched, so
 * no writer (pino, console, process.stdout) is missed.
 */
export function captureOutput(
  pid: number,
  streams: { stdout: Readable | null; stderr: Readable | null },
  log: LogTarget,
): void {
  if (streams.stdout) readLines(streams.stdout, (line) => log.writeLine(captured(pid, 'stdout', line)));
  if (streams.stderr)
    readLines(streams.stderr, (line) => log.writeLine(isLogLine(line) ? line : captured(pid, 'stderr', line)));
}

const isLogLine = (line: string) => line.startsWith('{"level":') && line.endsWith('}');

function captured(pid: number, stream: 'stdout' | 'stderr', text: string): string {
  const level = stream === 'stderr' ? 40 : 30;
  return JSON.stringify({ level, time: Date.now(), pid, stream, msg: text });
}

/** Calls `onLine` for each complete line; a last unterminated line is delivered at the end. */
function readLines(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const part of parts) {
      const line = part.endsWith('\r') ? part.slice(0, -1) : part;
      if (line) onLine(line);
    }
  });
  stream.on('end', () => {
    if (partial) onLine(partial);
    partial = '';
  });
  stream.on('error', () => {});
}
