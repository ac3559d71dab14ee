import { describe, expect, it } from 'vitest';
import { detectInterface } from '../../src/interfaces/detect.js';
import { parseAppSpec } from '../../src/interfaces/spec.js';

describe('APP spec', () => {
  it('reads module, attribute and factory arguments', () => {
    expect(parseAppSpec('app')).toMatchObject({ module: 'app', attr: null, args: null });
    expect(parseAppSpec('src/server:api')).toMatchObject({ module: 'src/server', attr: 'api', args: null });
    expect(parseAppSpec('src/server:create()')).toMatchObject({ attr: 'create', args: [] });
    expect(parseAppSpec('m:create("prod", 3, {"a": [1]})')).toMatchObject({
      attr: 'create',
      args: ['prod', 3, { a: [1] }],
    });
    expect(parseAppSpec('m:ns.app')).toMatchObject({ attr: 'ns.app' });
  });
  it('explains arguments that are not JSON', () => {
    expect(() => parseAppSpec('m:create(prod)')).toThrow(/JSON literals/);
  });
});

describe('interface detection', () => {
  const where = '"app" in x.js';
  it('tells node listeners, fetch handlers and fetch objects apart', () => {
    expect(detectInterface((_req: unknown, _res: unknown) => {}, 'auto', where).kind).toBe('node');
    expect(detectInterface((_req: unknown, _res: unknown, _next: unknown) => {}, 'auto', where).kind).toBe('node');
    expect(detectInterface((_request: unknown) => new Response(''), 'auto', where).kind).toBe('fetch');
    expect(detectInterface({ fetch: () => new Response('') }, 'auto', where).kind).toBe('fetch');
    expect(detectInterface({ callback: () => () => {} }, 'auto', where).kind).toBe('node');
  });
  it('follows --interface over the shape', () => {
    expect(detectInterface((_a: unknown, _b: unknown) => {}, 'fetch', where).kind).toBe('fetch');
  });
  it('asks for --interface when a function declares no parameters', () => {
    expect(() => detectInterface(() => {}, 'auto', where)).toThrow(/--interface node/);
  });
  it('says what was found when it is not an app', () => {
    expect(() => detectInterface(42, 'auto', where)).toThrow(/is a number, not an app/);
  });
});
