import { chmodSync, existsSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { ROOT, startGserve, tempDir } from '../helpers/gserve.js';
import { skipping } from '../helpers/needs.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';

// --user/--group (Gunicorn's -u/-g): the master binds and stays root; each worker drops first.
const root = process.getuid?.() === 0;
const nobody = { uid: 65534, gid: 65534 };

/** uid and gid lines of /proc/PID/status: [real, effective, saved, filesystem]. */
function ids(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

/** An app readable by nobody (test temp dirs are 0700), answering with the ids it runs under. */
function worldReadableApp(): string {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  const file = join(dir, 'whoami.mjs');
  writeFileSync(
    file,
    'export const app = (req, res) => res.end(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), ' +
      'groups: process.getgroups(), pid: process.pid }));\n',
  );
  chmodSync(file, 0o644);
  return file;
}

/**
 * Why workers running as nobody cannot load gserve from this checkout (a folder above it that
 * others cannot search, such as a 0700 temporary folder), or null when they can.
 */
function checkoutOutOfReach(): string | null {
  for (let dir = ROOT; ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0)
      return skipping(`nobody cannot search ${dir}, above this checkout: clone it where others can (chmod o+x)`);
    if (dirname(dir) === dir) return null;
  }
}
/** Serving as nobody needs the checkout within nobody's reach; the refusal without root does not. */
const servingAsNobodyImpossible = root && checkoutOutOfReach() !== null;

/** A free port below 1024: only root may bind it, so a worker under nobody serving it got it from the master. */
async function freePrivilegedPort(): Promise<number> {
  for (let port = 1023; port > 800; port--) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port in 801..1023');
}

/** Tests run under root on the project machine; elsewhere the refusal itself is what can be checked. */
async function expectRootNeeded(): Promise<void> {
  const r = await runCli(['--user', 'nobody', '-b', '127.0.0.1:0', worldReadableApp()]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--user\/--group need the master to run as root/);
}

describe('--user and --group', () => {
  it.skipIf(servingAsNobodyImpossible)(
    'workers run as nobody on a privileged port the root master bound; the master stays root',
    async () => {
      if (!root) return expectRootNeeded();
      const port = await freePrivilegedPort();
      const g = await startGserve(['-b', `127.0.0.1:${port}`, '--user', 'nobody', '-w', '2', worldReadableApp()]);
      const answer = JSON.parse((await get(`http://127.0.0.1:${port}/`)).body);
      expect(answer).toMatchObject({ uid: nobody.uid, gid: nobody.gid, groups: [nobody.gid] });
      for (const pid of g.workerPids) {
        const w = ids(pid);
        expect(w.uid).toEqual([nobody.uid, nobody.uid, nobody.uid, nobody.uid]);
        expect(w.gid).toEqual([nobody.gid, nobody.gid, nobody.gid, nobody.gid]);
        expect(w.groups).toEqual([nobody.gid]); // root's supplementary groups are gone
      }
      expect(ids(g.pid).uid).toEqual([0, 0, 0, 0]);
      // Replaced workers drop too (HUP starts new ones).
      g.signal('SIGHUP');
      await g.waitForLog(/^Reloaded: generation 1 is serving/);
      const booted = g.lines
        .filter((l) => /^Booting worker with pid/.test(l.msg))
        .map((l) => Number(/(\d+)$/.exec(l.msg)![1]));
      expect(booted).toHaveLength(4);
      expect(ids(booted[3]!).uid[0]).toBe(nobody.uid);
    },
    120_000,
  ); // boots four workers

  it.skipIf(servingAsNobodyImpossible)('--group picks the group: nobody with group 0 by number', async () => {
    if (!root) return expectRootNeeded();
    const g = await startGserve(['-u', 'nobody', '-g', '0', worldReadableApp()]);
    expect(JSON.parse((await get(g.url)).body)).toMatchObject({ uid: nobody.uid, gid: 0 });
  });

  it.skipIf(servingAsNobodyImpossible)(
    "the log files and a unix socket are given to the workers' user: access lines are written, also after USR1",
    async () => {
      if (!root) return expectRootNeeded();
      const dir = tempDir();
      chmodSync(dir, 0o755); // nobody opens its log by path, below this folder
      const socket = join(dir, 'app.sock');
      const access = join(dir, 'logs', 'access.log');
      const g = await startGserve([
        ...['-b', '127.0.0.1:0', '-b', `unix:${socket}`, '--user', 'nobody', '--access-logfile', access],
        worldReadableApp(),
      ]);
      // As Gunicorn chowns them: nginx reaches the socket through the workers' group, and a worker
      // opens (and on USR1 reopens) its log after it dropped to nobody.
      expect(statSync(socket)).toMatchObject({ uid: nobody.uid, gid: nobody.gid });
      expect(statSync(access)).toMatchObject({ uid: nobody.uid, gid: nobody.gid });
      expect((await get(g.url + '/first')).status).toBe(200);
      await pollUntil(() => readFileSync(access, 'utf8').includes('GET /first '), 'the access line as nobody');
      renameSync(access, `${access}.1`);
      g.signal('SIGUSR1');
      await pollUntil(async () => {
        await get(g.url + '/second');
        return existsSync(access) && readFileSync(access, 'utf8').includes('GET /second ');
      }, 'the access line in the reopened file');
      expect(g.stderr).not.toMatch(/cannot write the log file/);
      // nobody may write the log folder: a symlink it plants there is not followed by the root master.
      const rootFile = join(dir, 'root-only');
      writeFileSync(rootFile, 'root\n', { mode: 0o600 });
      renameSync(access, `${access}.2`);
      symlinkSync(rootFile, access);
      g.signal('SIGUSR1');
      await g.waitForLog(
        /^Reopening the logs: Cannot open --access-logfile .*: it is a symlink, which gserve does not follow/,
      );
      expect(statSync(rootFile)).toMatchObject({ uid: 0, gid: 0 });
    },
  );

  it('a worker that cannot read its folders as --user says which folder and how to fix it, not "Cannot find module"', async () => {
    if (!root) return expectRootNeeded();
    // tempDir() is 0700 and root's: nobody cannot even look inside it.
    const dir = tempDir();
    const app = join(dir, 'app.mjs');
    writeFileSync(app, 'export const app = (req, res) => res.end("unreachable");\n');
    const r = await runCli(['--user', 'nobody', '-b', '127.0.0.1:0', app], {
      cwd: dir,
      env: { XDG_RUNTIME_DIR: dir },
    });
    expect(r.killed).toBe(false);
    expect(r.code).toBe(3);
    // The app's folder, or gserve's own where the checkout itself is out of nobody's reach.
    const folder = new RegExp(`cannot read (${dir}|\\S+/dist/\\S*) \\(EACCES\\)`);
    expect(r.stderr).toMatch(folder);
    expect(r.stderr).toMatch(/chmod o\+rx.*\[GSERVE_E_PRIVILEGES\]\n$/);
    expect(r.stderr).not.toMatch(/Cannot find module/);
    // The app is not to blame: the master's last info line says what failed.
    expect(r.stderr).toContain('reason: a worker failed to boot');
    expect(r.stderr).not.toContain('the app failed to load');
  });

  it.skipIf(servingAsNobodyImpossible)(
    'an app given by path in a folder --user cannot read is named, though the working folder is readable',
    async () => {
      if (!root) return expectRootNeeded();
      const hidden = tempDir(); // 0700 and root's
      const app = join(hidden, 'app.mjs');
      writeFileSync(app, 'export const app = (req, res) => res.end("unreachable");\n');
      const cwd = tempDir();
      chmodSync(cwd, 0o755);
      const r = await runCli(['--user', 'nobody', '-b', '127.0.0.1:0', `${app}:app`], {
        cwd,
        env: { XDG_RUNTIME_DIR: cwd },
      });
      expect(r.killed).toBe(false);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`cannot read ${hidden} (EACCES)`);
      expect(r.stderr).toMatch(/chmod o\+rx.*\[GSERVE_E_PRIVILEGES\]\n$/);
      expect(r.stderr).not.toMatch(/Cannot find module/);
    },
  );

  it.each([
    [
      ['--user', 'no-such-user-15b'],
      'Unknown user "no-such-user-15b" (--user): no such user on this system. ' +
        'Give an existing user name or a numeric uid.',
    ],
    [
      ['--group', 'no-such-group-15b'],
      'Unknown group "no-such-group-15b" (--group): no such group on this system. ' +
        'Give an existing group name or a numeric gid.',
    ],
  ])('%j: one clear line, exit 2, nothing bound', async (flags, message) => {
    const dir = tempDir();
    const r = await runCli([...flags, '-b', '127.0.0.1:0', worldReadableApp()], {
      cwd: dir,
      env: { XDG_RUNTIME_DIR: dir },
    });
    expect(r.killed).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`gserve: error: ${message} [GSERVE_E_PRIVILEGES]\n`);
  });
});
