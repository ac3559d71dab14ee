import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../package-root.js';

/** A process.exit() that user code called while it loaded: the call as written, and where from. */
export interface ExitCall {
  call: string;
  /** `file:line` of the caller, when the stack names one. */
  at: string | undefined;
}

/** gserve's own code, as a stack frame names it: a path (CommonJS) or a file URL (ES modules). */
const OWN_CODE = [join(PACKAGE_ROOT, 'dist'), pathToFileURL(join(PACKAGE_ROOT, 'dist')).href];

/** The loads in progress, each told of an exit (a HUP's config load may overlap the next one's). */
const loads = new Set<(exit: ExitCall) => void>();
/** Node's process.exit, once the guard is in its place. */
let nodeExit: typeof process.exit | null = null;

/** `file:line` from a stack frame such as `at f (/app/x.js:3:9)` or `at file:///app/x.mjs:3:9`. */
function locationOf(frame: string): string | undefined {
  const found = /\(?((?:file:\/\/)?\/[^()]*?):(\d+):\d+\)?\s*$/.exec(frame);
  return found ? `${found[1]!.replace(/^file:\/\//, '')}:${found[2]}` : undefined;
}

/**
 * process.exit() once the guard is in place: outside loads, node's own. While user code loads,
 * gserve's own calls (a TERM meanwhile) exit; any other is told to each load and returns, as
 * throwing would, from a timer, crash the process instead. It stays in place for good: user code
 * may keep a reference to it (`const { exit } = process`) or wrap it (an APM agent's flush before
 * exit), and either must exit normally once the load is over.
 */
const exitWhileLoading = (code?: number | string | null): never => {
  if (loads.size === 0) return nodeExit!.call(process, code);
  // The frame below this one: what called process.exit().
  const frame = new Error().stack?.split('\n')[2] ?? '';
  if (OWN_CODE.some((own) => frame.includes(own))) return nodeExit!.call(process, code);
  const exit: ExitCall = { call: `process.exit(${code ?? ''})`, at: locationOf(frame) };
  for (const tell of loads) tell(exit);
  return undefined as never;
};

/**
 * Runs a load of user code (a config file, the app module) during which process.exit() does not
 * exit: code that stops itself that way (`if (!process.env.DB_URL) process.exit(1)`) would end the
 * master mid-HUP, or end a worker with code 0 that the master then boots again and again, and say
 * nothing. The load fails at once with `refusal(exit)` instead, whatever the code does after the
 * call; calls from its timers and promises are caught too, until the load settles.
 */
export function refusingExit<T>(load: () => Promise<T>, refusal: (exit: ExitCall) => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const tell = (exit: ExitCall) => reject(refusal(exit));
    const settle = () => loads.delete(tell);
    if (nodeExit === null) {
      nodeExit = process.exit;
      process.exit = exitWhileLoading;
    }
    loads.add(tell);
    load().then(
      (value) => {
        settle();
        resolve(value);
      },
      (err: unknown) => {
        settle();
        reject(err);
      },
    );
  });
}
