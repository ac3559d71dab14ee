import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { MasterHookName, WorkerHookName } from './settings/supervision.js';
import type { Settings } from './settings/index.js';

/**
 * The type of a config file, for `defineConfig()`: every setting of the table (all optional) with
 * its value type, and the server hooks with the arguments gserve passes them.
 */

/** The master, the way master-side hooks see it. */
export interface HookServer {
  readonly pid: number;
  readonly settings: Settings;
  readonly log: Logger;
  /** How many workers the master keeps alive now. */
  readonly numWorkers: number;
}

/** A worker, the way master-side hooks see it (`pid` is null before it is started). */
export interface HookWorkerRef {
  readonly pid: number | null;
  readonly generation: number;
}

/** The worker a worker-side hook runs in. */
export interface HookWorker {
  readonly pid: number;
  readonly generation: number;
  readonly settings: Record<string, unknown>;
  readonly log: Logger;
}

/** The master, seen from a worker-side hook (postFork, workerExit). */
export interface HookMaster {
  readonly pid: number;
  readonly settings: Record<string, unknown>;
}

/**
 * A request the way `preRequest`/`postRequest` get it: node's `IncomingMessage`, or the engine's
 * request for fetch/WSGI/ASGI apps.
 */
export type HookRequest = IncomingMessage | (Record<string, unknown> & { method?: string; url?: string });
export type HookResponse = ServerResponse | Record<string, unknown>;

type Awaitable<T> = T | Promise<T>;

export interface Hooks {
  onStarting(server: HookServer): Awaitable<void>;
  onReload(server: HookServer): Awaitable<void>;
  whenReady(server: HookServer): Awaitable<void>;
  preFork(server: HookServer, worker: HookWorkerRef): Awaitable<void>;
  postFork(server: HookMaster, worker: HookWorker): Awaitable<void>;
  postWorkerInit(worker: HookWorker): Awaitable<void>;
  workerInt(worker: HookWorker): Awaitable<void>;
  workerAbort(worker: HookWorker): Awaitable<void>;
  preExec(server: HookServer): Awaitable<void>;
  preRequest(worker: HookWorker, req: HookRequest): void;
  postRequest(worker: HookWorker, req: HookRequest, res: HookResponse): void;
  childExit(server: HookServer, worker: HookWorkerRef): Awaitable<void>;
  workerExit(server: HookMaster, worker: HookWorker): Awaitable<void>;
  nworkersChanged(server: HookServer, newValue: number, oldValue: number | null): Awaitable<void>;
  onExit(server: HookServer): Awaitable<void>;
}

// Every hook of the settings table has a typed signature here, and nothing else does.
type HookName = MasterHookName | WorkerHookName;
type _Exact = [HookName] extends [keyof Hooks] ? ([keyof Hooks] extends [HookName] ? true : never) : never;
const _hooksMatchTable: _Exact = true;
void _hooksMatchTable;

/** A config file's contents: settings by their camelCase names, hooks, and an optional `$schema` for editors. */
export type Config = Partial<Omit<Settings, keyof Hooks>> & Partial<Hooks> & { $schema?: string };

/**
 * Types a config file without changing it:
 *
 * ```ts
 * import { defineConfig } from 'gserve-server';
 * export default defineConfig({ app: 'src/server:app', workers: 4, onStarting: (server) => server.log.info('up') });
 * ```
 *
 * A function (sync or async) is accepted too, since the config file may export one.
 */
export function defineConfig(config: Config): Config;
export function defineConfig(config: () => Config | Promise<Config>): () => Config | Promise<Config>;
export function defineConfig(
  config: Config | (() => Config | Promise<Config>),
): Config | (() => Config | Promise<Config>) {
  return config;
}
