import { describe, expect, it } from 'vitest';
import { resolveSettings } from '../../src/config/resolve.js';
import { mergeReloaded } from '../../src/master/reload.js';

describe('HUP settings merge', () => {
  it('applies reloadable settings and keeps (and reports) the ones that need a restart', async () => {
    const running = await resolveSettings({ cli: { bind: ['127.0.0.1:8000'], workers: 2 }, env: {}, cwd: '/' });
    const fresh = await resolveSettings({
      cli: { bind: ['0.0.0.0:9000'], workers: 4, pid: '/tmp/x.pid', maxRequests: 100 },
      env: {},
      cwd: '/',
    });
    const { resolved, needsRestart } = mergeReloaded(running, fresh);
    expect(resolved.settings.workers).toBe(4);
    expect(resolved.settings.maxRequests).toBe(100);
    expect(resolved.settings.bind).toEqual(['127.0.0.1:8000']);
    expect(resolved.settings.pid).toBeNull();
    expect(resolved.sources.bind).toBe('command line --bind');
    expect(needsRestart.map((c) => c.name).sort()).toEqual(['bind', 'pid']);
  });

  it('parses recycling sizes as bytes', async () => {
    const { settings } = await resolveSettings({
      cli: { maxWorkerMemory: '512MB' },
      env: { GSERVE_MAX_REQUESTS_JITTER: '50' },
      cwd: '/',
    });
    expect(settings.maxWorkerMemory).toBe(512_000_000);
    expect(settings.maxRequestsJitter).toBe(50);
  });
});
