// The command lines of the standalone measurements (cpu-per-request.js, instructions-per-request.js): their own
// options, and the one-worker gserve they measure.
import { join } from 'node:path';

/** gserve with one worker on 127.0.0.1:PORT, warnings and worse logged, then `extra` (the app last). */
export const oneWorkerGserve = (port, extra) => [
  join(import.meta.dirname, '../../bin/gserve'),
  '-b',
  `127.0.0.1:${port}`,
  '--log-level',
  'warning',
  '-w',
  '1',
  ...extra,
];

/** The number after `--name` on the command line, or `fallback`. */
export function numberArg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** The comma-separated list after `--name`, as a set, or `fallback`'s. */
export function setArg(name, fallback) {
  const i = process.argv.indexOf(name);
  return new Set(i > 0 ? process.argv[i + 1].split(',') : fallback);
}
