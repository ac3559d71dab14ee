import { createServer } from 'node:http';
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

  it('says how to serve an app object that owns its server: a Fastify instance, an http.Server', () => {
    const fastify = { routing() {}, ready() {}, get() {}, post() {} };
    expect(() => detectInterface(fastify, 'auto', where)).toThrow(
      /It is a Fastify instance, .*returns \(req, res\) => fastify\.routing\(req, res\).*app:create\(\)/,
    );
    const server = createServer();
    expect(() => detectInterface(server, 'auto', where)).toThrow(
      /It is a server \(http\.createServer\): export its request listener/,
    );
  });

  it('names every interface when a function declares no parameters', () => {
    expect(() => detectInterface(() => {}, 'auto', where)).toThrow(/--interface node .* wsgi .* asgi/);
    // Most often a factory named without its parentheses: that fix comes first.
    expect(() => detectInterface(() => {}, 'auto', where)).toThrow(
      /call it in APP with parentheses, e\.g\. app:create\(\)/,
    );
    expect(() => detectInterface(42, 'wsgi', where)).toThrow(/\(environ, startResponse\)/);
  });
});
