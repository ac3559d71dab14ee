import { setFlagsFromString } from 'node:v8';

/**
 * The master's start-up (reading the settings, building the command line, binding, loading pino)
 * runs once, yet V8's optimizing compiler (TurboFan) compiles what runs hot in it, and the memory
 * that takes stays: about 3 MB of an idle master's RSS on Node 20, and 4 MB more when pino loads
 * with TurboFan on. So bin/gserve turns TurboFan off before it loads gserve, and the arbiter turns
 * it back on once its workers are ready and pino is loaded, for what may run hot from then on
 * (the sync class's dispatcher). Node 22+ still has its mid-tier compiler (Maglev) meanwhile.
 */
export function optimizeFromNowOn(): void {
  // Unless node itself was told to run without it.
  if (process.execArgv.some((arg) => arg === '--no-opt' || arg === '--no-turbofan')) return;
  setFlagsFromString('--opt');
}
