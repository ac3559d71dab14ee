import { describe, expect, it } from 'vitest';
import { type RuntimeSettings, WorkerRuntime } from '../../src/interfaces/runtime.js';

const SETTINGS: RuntimeSettings = {
  healthPath: null,
  forwardedAllowIps: ['127.0.0.1', '::1'],
  forwardedHeaders: 'x-forwarded',
  wsMaxSize: 16 * 1024 * 1024,
  wsPingInterval: 20,
  wsPingTimeout: 20,
  wsPerMessageDeflate: false,
  wsgiSpoolSize: 1024 * 1024,
  workers: 1,
  workerClass: 'async',
  overrideGlobalObjects: true,
};

describe('WorkerRuntime', () => {
  it('holds its own health check, trusted peers and Unix paths: two runtimes share nothing', () => {
    const a = new WorkerRuntime({ ...SETTINGS, healthPath: '/healthz', forwardedAllowIps: ['10.0.0.0/8'] }, [
      { fd: 3, address: 'unix:/run/a.sock' },
    ]);
    const b = new WorkerRuntime(SETTINGS);
    expect(a.health?.matches('/healthz?x')).toBe(true);
    expect(b.health).toBeNull();
    expect(a.health?.fail()).toBe(true);
    expect(a.health?.fail()).toBe(false);
    expect(a.health?.status).toBe(503);
    expect(a.trustedPeers.has('10.1.2.3')).toBe(true);
    expect(b.trustedPeers.has('10.1.2.3')).toBe(false);
    expect(b.trustedPeers.has('::1')).toBe(true);
    const onUnix = {
      localPort: undefined,
      localAddress: undefined,
      server: { address: () => null, _handle: { fd: 3 } },
    };
    expect(a.unixPaths.serverAddress(onUnix)).toEqual(['/run/a.sock', null]);
    expect(b.unixPaths.serverAddress(onUnix)).toEqual(['', null]);
  });

  it('serves WebSocket on every class but sync', () => {
    expect(new WorkerRuntime(SETTINGS).webSocketCapable).toBe(true);
    expect(new WorkerRuntime({ ...SETTINGS, workerClass: 'thread' }).webSocketCapable).toBe(true);
    expect(new WorkerRuntime({ ...SETTINGS, workerClass: 'sync' }).webSocketCapable).toBe(false);
  });
});
