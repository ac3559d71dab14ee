import { SettingError } from '../../errors.js';
import { defineSetting } from '../spec.js';
import { integer } from '../types.js';

const SECTION = 'Worker classes';

export const workerClassSettings = [
  defineSetting({
    name: 'threads',
    section: SECTION,
    meta: 'INT',
    type: integer({ min: 1, max: 256 }),
    default: 1,
    doc:
      'Threads per worker process for the `thread` class: each thread hosts its own instance of the app. ' +
      'More than 1 without `--worker-class` (or with `sync`) selects the `thread` class, like Gunicorn.',
  }),
  defineSetting({
    name: 'workerConnections',
    section: SECTION,
    meta: 'INT',
    type: integer({ min: 1, max: 1_000_000 }),
    default: 1000,
    doc:
      'Most concurrent connections per worker process, for the `async` and `thread` classes. ' +
      'A connection beyond it gets an immediate `503 Service Unavailable` with `Retry-After: ' +
      '1` and is closed, so clients retry elsewhere instead of hanging. The master warns at start when the ' +
      'open-file limit (`ulimit -n`) cannot hold this many plus 64 per worker.',
  }),
];

interface ClassChoice {
  settings: { workerClass: string; threads: number };
  sources: { workerClass: string; threads: string };
}

/**
 * Gunicorn's rule: `--threads` above 1 turns the default (or `sync`) class into the threaded one.
 * Applied once, after every source is merged, so a config-file `threads` and a command-line `-k`
 * combine the way two flags would.
 */
export function applyImpliedWorkerClass(resolved: ClassChoice): void {
  const { settings, sources } = resolved;
  if (settings.threads <= 1 || settings.workerClass === 'thread') return;
  if (settings.workerClass === 'sync' || sources.workerClass === 'default') {
    settings.workerClass = 'thread';
    sources.workerClass = `implied by threads = ${settings.threads} (${sources.threads})`;
    return;
  }
  throw new SettingError(
    `Setting "threads" is ${settings.threads} (from ${sources.threads}), ` +
      `but the ${settings.workerClass} worker class (from ${sources.workerClass}) runs the app on one thread. ` +
      'Use --worker-class thread, or drop --threads.',
  );
}
