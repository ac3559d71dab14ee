import { OWN_VARIABLES } from '../config/own-variables.js';
import type { Settings } from '../config/settings/index.js';
import { isRecord } from './guards.js';
import type { WorkerBoot } from './ipc-messages.js';
import type { ThreadStart } from './thread-messages.js';

/** What survives JSON.stringify unchanged. */
type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * The settings a worker gets: every setting whose value survives JSON. Server hooks are functions,
 * which JSON drops; a worker that needs them loads the config file itself (worker/hooks.ts).
 */
export type BootSettings = Pick<Settings, JsonSafeName>;
type JsonSafeName = { [K in keyof Settings]: Settings[K] extends JsonValue ? K : never }[keyof Settings];

export const BOOT_ENV = OWN_VARIABLES.workerBoot;

function isBoot(v: unknown): v is WorkerBoot {
  return (
    isRecord(v) &&
    isRecord(v.settings) &&
    Array.isArray(v.listeners) &&
    typeof v.generation === 'number' &&
    typeof v.cwd === 'string'
  );
}

/**
 * The boot message the master put in the worker's environment, taken out of it (the app must not
 * see it). The master wrote it from typed settings; only its shape is checked here.
 */
export function takeBoot(env: NodeJS.ProcessEnv = process.env): WorkerBoot {
  const text = env[BOOT_ENV];
  delete env[BOOT_ENV];
  const boot: unknown = text === undefined ? undefined : JSON.parse(text);
  if (!isBoot(boot)) throw new Error(`${BOOT_ENV} is missing or malformed: a worker is started by the gserve master`);
  return boot;
}

function isThreadStart(v: unknown): v is ThreadStart {
  return (
    isRecord(v) &&
    isRecord(v.settings) &&
    typeof v.cwd === 'string' &&
    Array.isArray(v.schemes) &&
    v.claim instanceof SharedArrayBuffer
  );
}

/** An app thread's workerData: what its worker's thread pool started it with. */
export function threadBoot(data: unknown): ThreadStart {
  if (!isThreadStart(data))
    throw new Error('An app thread is started by a gserve thread worker, with its boot in workerData');
  return data;
}
