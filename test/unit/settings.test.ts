import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/config/address.js';
import { resolveSettings } from '../../src/config/resolve.js';
import { MAX_SECONDS, bytes, integer, list, oneOf, seconds } from '../../src/config/types.js';
import { SettingError } from '../../src/errors.js';
import { parseCommandLine } from '../../src/cli/program.js';

const dirs: string[] = [];
const dir = (files: Record<string, string> = {}) => {
  const d = mkdtempSync(join(tmpdir(), 'gserve-unit-'));
  dirs.push(d);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('value types', () => {
  it('parses integers from strings and numbers, and rejects the rest with the expectation', () => {
    const t = integer({ min: 1, max: 10 });
    expect(t.parse('4')).toBe(4);
    expect(t.parse(7)).toBe(7);
    expect(() => t.parse('0')).toThrow(/from 1 to 10, got "0"/);
    expect(() => t.parse('4.5')).toThrow(/an integer/);
  });
  it('takes seconds up to what a Node timer holds: a longer one would warn and be cut short', () => {
    expect(seconds().parse('2.5')).toBe(2.5);
    expect(seconds().parse(MAX_SECONDS)).toBe(MAX_SECONDS);
    expect(MAX_SECONDS * 1000 + 1000).toBeLessThan(2 ** 31 - 1); // with the second some timers add
    expect(() => seconds().parse('3000000')).toThrow(/from 0 to 2000000, got "3000000"/);
  });
  it('parses sizes with units', () => {
    expect(bytes().parse('512MB')).toBe(512e6);
    expect(bytes().parse('1GiB')).toBe(1024 ** 3);
    expect(bytes().parse(100)).toBe(100);
    expect(() => bytes().parse('12 parsecs')).toThrow(/size in bytes/);
  });
  it('accepts aliases of enumerated words', () => {
    const t = oneOf(['thread', 'sync'] as const, { gthread: 'thread' });
    expect(t.parse('GThread')).toBe('thread');
    expect(() => t.parse('eventlet')).toThrow(/one of thread, sync/);
  });
  it('splits lists given as one string', () => {
    expect(list(integer()).parse('1, 2,3')).toEqual([1, 2, 3]);
  });
});

describe('addresses', () => {
  it('reads the bind forms', () => {
    expect(parseAddress('127.0.0.1:80')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 80 });
    expect(parseAddress('[::1]:8080')).toEqual({ kind: 'tcp', host: '::1', port: 8080 });
    expect(parseAddress(':9000')).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 9000 });
    expect(parseAddress('unix:/tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock' });
    expect(parseAddress('fd://3')).toEqual({ kind: 'fd', fd: 3 });
    // Gunicorn's schemes for the same.
    expect(parseAddress('tcp://127.0.0.1:80')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 80 });
    expect(parseAddress('tcp://[::1]:8080')).toEqual({ kind: 'tcp', host: '::1', port: 8080 });
    expect(parseAddress('unix:///tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock' });
    expect(parseAddress('unix://run/x.sock')).toEqual({ kind: 'unix', path: 'run/x.sock' });
    for (const bad of ['tcp://', 'unix://', 'tcp://unix:/tmp/a', 'tcp://fd://3'])
      expect(() => parseAddress(bad), bad).toThrow(/^(tcp|unix):\/\/ takes /);
    expect(() => parseAddress('::1:80')).toThrow(/brackets/);
    expect(() => parseAddress('host:99999')).toThrow(/port/);
    expect(parseAddress('[fe80::1%lo]:80')).toEqual({ kind: 'tcp', host: 'fe80::1%lo', port: 80 });
    // Never "every address" by accident: empty brackets, or a JSON list in GSERVE_BIND.
    for (const bad of ['[]', '[]:8000', '["x"]', '[127.0.0.1]:80'])
      expect(() => parseAddress(bad), bad).toThrow(/brackets hold an IPv6 address/);
  });

  it('refuses a memory ceiling given without its unit (512 bytes), and takes 0 and 32MiB', async () => {
    const memory = (v: string) => resolveSettings({ cli: { maxWorkerMemory: v }, env: {}, cwd: dir() });
    await expect(memory('512')).rejects.toThrow(/at least 32 MiB \(a number without a unit is bytes\)/);
    expect((await memory('0')).settings.maxWorkerMemory).toBe(0);
    expect((await memory('32MiB')).settings.maxWorkerMemory).toBe(32 * 2 ** 20);
  });

  it('refuses an empty address, an empty fd:// and a URL, and an empty list of them', async () => {
    expect(() => parseAddress('')).toThrow(/empty/);
    expect(() => parseAddress('fd://')).toThrow(/fd:\/\/N/);
    expect(() => parseAddress('http://127.0.0.1:8000')).toThrow(/not a URL: drop the "http:\/\/"/);
    for (const bind of [[], '', ',']) {
      const cwd = dir({ 'gserve.config.json': JSON.stringify({ bind }) });
      await expect(resolveSettings({ cli: {}, env: {}, cwd })).rejects.toThrow(/"bind" .*a non-empty list/);
    }
    await expect(resolveSettings({ cli: {}, env: { GSERVE_BIND: '' }, cwd: dir() })).rejects.toThrow(/non-empty/);
  });

  it('takes a port number alone in a config file, as listen(8000) does, and refuses other numbers', async () => {
    const bindFrom = (bind: unknown) =>
      resolveSettings({ cli: {}, env: {}, cwd: dir({ 'gserve.config.json': JSON.stringify({ bind }) }) });
    expect((await bindFrom(8000)).settings.bind).toEqual(['8000']);
    expect((await bindFrom([8000, '127.0.0.1:9000'])).settings.bind).toEqual(['8000', '127.0.0.1:9000']);
    expect(parseAddress('8000')).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 8000 });
    await expect(bindFrom(70000)).rejects.toThrow(/port must be a number from 0 to 65535/);
    await expect(bindFrom(80.5)).rejects.toThrow(
      /expected a non-empty list of addresses \(strings\) or port numbers, got 80.5/,
    );
    await expect(bindFrom(true)).rejects.toThrow(
      /expected a non-empty list of addresses \(strings\) or port numbers, got true/,
    );
  });
});

describe('precedence', () => {
  it('is defaults < config file < environment < command line, with sources named', async () => {
    const cwd = dir({
      'gserve.config.json': JSON.stringify({ workers: 3, keepAlive: 7, timeout: 11, graceful_timeout: 5 }),
    });
    const r = await resolveSettings({ cli: { timeout: '13' }, env: { GSERVE_KEEP_ALIVE: '9' }, cwd });
    expect(r.settings.workers).toBe(3);
    expect(r.sources.workers).toMatch(/config file .*gserve.config.json \(key "workers"\)/);
    expect(r.settings.keepAlive).toBe(9);
    expect(r.sources.keepAlive).toBe('environment variable GSERVE_KEEP_ALIVE');
    expect(r.settings.timeout).toBe(13);
    expect(r.sources.timeout).toBe('command line --timeout');
    expect(r.settings.gracefulTimeout).toBe(5);
    expect(r.settings.logLevel).toBe('info');
    expect(r.sources.logLevel).toBe('default');
  });

  it('honours PORT and WEB_CONCURRENCY below GSERVE_ variables', async () => {
    const cwd = dir();
    const r = await resolveSettings({ cli: {}, env: { PORT: '5000', WEB_CONCURRENCY: '3' }, cwd });
    expect(r.settings.bind).toEqual(['0.0.0.0:5000']);
    expect(r.settings.workers).toBe(3);
    const r2 = await resolveSettings({ cli: {}, env: { PORT: '5000', GSERVE_BIND: '127.0.0.1:6000' }, cwd });
    expect(r2.settings.bind).toEqual(['127.0.0.1:6000']);
  });

  it('lets a config file win over PORT and WEB_CONCURRENCY, which only change the defaults (as in Gunicorn)', async () => {
    const cwd = dir({ 'gserve.config.json': JSON.stringify({ bind: ['127.0.0.1:7000'], workers: 2 }) });
    const r = await resolveSettings({ cli: {}, env: { PORT: '5000', WEB_CONCURRENCY: '3' }, cwd });
    expect(r.settings.bind).toEqual(['127.0.0.1:7000']);
    expect(r.settings.workers).toBe(2);
    expect(r.sources.bind).toMatch(/config file/);
  });

  it("accepts Gunicorn's own names for settings whose snake_case is not ours (errorlog, pidfile, --log-file)", async () => {
    const gunicorn = {
      errorlog: '/var/log/e.log',
      accesslog: '-',
      loglevel: 'debug',
      keepalive: 5,
      access_log_format: '%(h)s',
      pidfile: 'g.pid',
      raw_env: ['A=1'],
      preload_app: true,
    };
    const r = await resolveSettings({ cli: {}, env: {}, cwd: dir({ 'gserve.config.json': JSON.stringify(gunicorn) }) });
    expect(r.settings).toMatchObject({
      errorLogfile: '/var/log/e.log',
      accessLogfile: '-',
      logLevel: 'debug',
      keepAlive: 5,
      accessLogformat: '%(h)s',
      pid: 'g.pid',
      env: ['A=1'],
      preload: true,
    });
    expect(r.sources.pid).toMatch(/\(key "pidfile"\)$/);
    expect(parseCommandLine(['--log-file', 'x.log', 'app:app'], '0').cli).toEqual({
      errorLogfile: 'x.log',
      app: 'app:app',
    });
  });

  it('names an unknown config key and suggests the right one', async () => {
    const cwd = dir({ 'gserve.config.json': JSON.stringify({ wokers: 2 }) });
    await expect(resolveSettings({ cli: {}, env: {}, cwd })).rejects.toThrow(
      /Unknown setting "wokers" in config file .*Did you mean "workers"/,
    );
  });

  it('says that a .gserverc holding JavaScript is read as data', async () => {
    const cwd = dir({ '.gserverc': 'module.exports = { workers: 3 };\n' });
    await expect(resolveSettings({ cli: {}, env: {}, cwd })).rejects.toThrow(
      /Unknown setting "module\.exports = \{ workers" in config file .*\.gserverc\. It looks like JavaScript, but \.gserverc is read as JSON or YAML/,
    );
  });

  it('names the file and key of a bad value', async () => {
    const cwd = dir({ '.gservrc.json': JSON.stringify({ workers: 'many' }) });
    const err = await resolveSettings({ cli: {}, env: {}, cwd }).catch((e) => e);
    expect(err).toBeInstanceOf(SettingError);
    expect(err.message).toMatch(/"workers" from config file .*\.gservrc\.json \(key "workers"\): expected an integer/);
  });

  it('reads the package.json key and JS config files', async () => {
    const a = await resolveSettings({
      cli: {},
      env: {},
      cwd: dir({ 'package.json': JSON.stringify({ name: 'x', gserve: { workers: 4 } }) }),
    });
    expect(a.settings.workers).toBe(4);
    const b = await resolveSettings({
      cli: {},
      env: {},
      cwd: dir({ 'gserve.config.mjs': 'export default { workers: 5, bind: ["127.0.0.1:0"] };' }),
    });
    expect(b.settings.workers).toBe(5);
    const c = await resolveSettings({
      cli: {},
      env: {},
      cwd: dir({ 'gserve.config.cjs': 'module.exports = { workers: 6 };' }),
    });
    expect(c.settings.workers).toBe(6);
  });

  it('reports a config file with a syntax error in one line', async () => {
    const cwd = dir({ 'gserve.config.json': '{ "workers": 2, ' });
    await expect(resolveSettings({ cli: {}, env: {}, cwd })).rejects.toThrow(
      /Could not read config file .*gserve.config.json/,
    );
  });
});
