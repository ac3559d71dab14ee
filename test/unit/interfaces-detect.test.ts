import { describe, expect, it } from 'vitest';
import { detectInterface, firstParameterName } from '../../src/interfaces/detect.js';

const where = '"app" in app.js';

describe('interface detection', () => {
  it('reads the first parameter name of every function form', () => {
    expect(
      firstParameterName(function app(environ: unknown, start: unknown) {
        return [environ, start];
      }),
    ).toBe('environ');
    expect(
      firstParameterName(async function (scope: unknown) {
        return scope;
      }),
    ).toBe('scope');
    expect(firstParameterName(async (scope: unknown, r: unknown, s: unknown) => [scope, r, s])).toBe('scope');
    expect(firstParameterName((req: unknown) => req)).toBe('req');
    expect(
      firstParameterName(
        {
          m(environ: unknown) {
            return environ;
          },
        }.m,
      ),
    ).toBe('environ');
    expect(firstParameterName(() => {})).toBeNull();
  });

  it('tells wsgi and asgi apps from node and fetch ones', () => {
    expect(
      detectInterface(
        function app(environ: unknown, startResponse: unknown) {
          return [environ, startResponse];
        },
        'auto',
        where,
      ).kind,
    ).toBe('wsgi');
    expect(
      detectInterface(
        async function app(scope: unknown, receive: unknown, send: unknown) {
          return [scope, receive, send];
        },
        'auto',
        where,
      ).kind,
    ).toBe('asgi');
    // An async function of three parameters is asgi whatever their names; a plain one is Express-like node.
    expect(detectInterface(async (a: unknown, b: unknown, c: unknown) => [a, b, c], 'auto', where).kind).toBe('asgi');
    expect(
      detectInterface(
        function (req: unknown, res: unknown, next: unknown) {
          return [req, res, next];
        },
        'auto',
        where,
      ).kind,
    ).toBe('node');
    expect(detectInterface((request: unknown) => request, 'auto', where).kind).toBe('fetch');
    expect(detectInterface((a: unknown, b: unknown) => [a, b], 'asgi', where).kind).toBe('asgi');
    expect(detectInterface((a: unknown, b: unknown) => [a, b], 'wsgi', where).kind).toBe('wsgi');
  });

  it('finds WebSocket handlers on the app or in its module', () => {
    const websocket = { message() {} };
    const fetchApp = detectInterface({ fetch: () => new Response(''), websocket }, 'auto', where);
    expect(fetchApp.kind === 'fetch' && fetchApp.websocket).toBe(websocket);
    const upgrade = () => {};
    const nodeApp = detectInterface((req: unknown, res: unknown) => [req, res], 'auto', where, { upgrade, websocket });
    expect(nodeApp.kind === 'node' && nodeApp.upgrade).toBe(upgrade);
    expect(nodeApp.kind === 'node' && nodeApp.websocket).toBe(websocket);
  });

  it('names every interface when a function declares no parameters', () => {
    expect(() => detectInterface(() => {}, 'auto', where)).toThrow(/--interface node .* wsgi .* asgi/);
    expect(() => detectInterface(42, 'wsgi', where)).toThrow(/\(environ, startResponse\)/);
  });
});
