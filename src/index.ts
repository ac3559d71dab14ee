/**
 * The package's entry (`import { defineConfig, start } from 'gserve-server'`): the config file's
 * type, the types an app author needs for each interface, and starting a server from code.
 * The `gserve` command itself is bin/gserve.
 */
export { defineConfig } from './config/define.js';
export type {
  Config,
  Hooks,
  HookServer,
  HookWorker,
  HookWorkerRef,
  HookMaster,
  HookRequest,
  HookResponse,
} from './config/define.js';
export type { Settings, SettingName } from './config/settings/index.js';

export { start, argsFor } from './api.js';
export type { StartOptions, StartSettings, RunningServer } from './api.js';

export { GserveError, SettingError, ConfigFileError, AppLoadError, BindError, ExitCode } from './errors.js';

// The app interfaces (docs/interfaces.md).
export type { FetchHandler } from './interfaces/detect.js';
export type { WsgiApp, WsgiStartResponse, WsgiWrite, WsgiBody } from './interfaces/wsgi.js';
export type { AsgiApp, AsgiScope, AsgiReceive, AsgiSend, AsgiEvent } from './interfaces/asgi.js';

import type { FetchHandler, NodeListener } from './interfaces/detect.js';
/** A node:http request listener: `(req, res) => void`. */
export type NodeApp = NodeListener;
/** A fetch app: a `(request) => Response` function, or an object with a `fetch` method (Hono, itty-router, …). */
export type FetchApp = FetchHandler | { fetch: FetchHandler };
