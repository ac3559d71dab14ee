import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cannotOpen, cannotWrite } from '../../src/log/destination.js';
import { diagnoseOpenFailure, type OpenFailure } from '../../src/log/open-failure.js';

const dir = mkdtempSync(join(tmpdir(), 'gserve-open-failure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A read-only file refuses only a user other than root, which the tests may run as: the failure
// is given as diagnoseOpenFailure finds it for such a user.
const readOnlyFile: OpenFailure = { kind: 'file-not-writable', user: 'app', mode: 0o444, ownerUid: 0, uid: 1000 };

describe('a log file that cannot be opened', () => {
  it('a folder given as the file: says so, and suggests a file inside it (not "make its folder writable")', () => {
    const folder = join(dir, 'logs');
    mkdirSync(folder);
    const failure = diagnoseOpenFailure(folder, 'EISDIR');
    expect(cannotOpen('--access-logfile', folder, 'EISDIR', failure)).toBe(
      `Cannot open --access-logfile ${folder}: EISDIR, it is a folder. Give the path of a file inside it, ` +
        `e.g. ${folder}/access.log ('-' for the standard stream).`,
    );
    expect(cannotWrite(folder, 'EISDIR', failure)).toBe(
      `gserve: cannot write the log file ${folder} (EISDIR, it is a folder); its lines are dropped until it ` +
        'can be written again: move the folder away, then send USR1 to reopen it\n',
    );
  });

  it('a read-only file: names the file, the user and its mode, and says to fix the file', () => {
    expect(cannotOpen('--error-logfile', '/var/log/app/error.log', 'EACCES', readOnlyFile)).toBe(
      'Cannot open --error-logfile /var/log/app/error.log: EACCES, the file is not writable by user app ' +
        '(mode 0444, owner uid 0). Give it to app (chown), or make it writable by them, or choose another file ' +
        "('-' for the standard stream).",
    );
    expect(
      cannotOpen('--access-logfile', '/srv/a.log', 'EACCES', { ...readOnlyFile, ownerUid: 1000, mode: 0o400 }),
    ).toBe(
      'Cannot open --access-logfile /srv/a.log: EACCES, the file is not writable by user app (mode 0400, ' +
        "owner uid 1000). Make it writable (chmod u+w /srv/a.log), or choose another file ('-' for the standard stream).",
    );
    expect(cannotWrite('/srv/a.log', 'EACCES', readOnlyFile)).toMatch(
      /\(EACCES, the file is not writable by user app .*\); its lines are dropped .*: make the file writable by app, then send USR1/,
    );
  });

  it('a folder that refuses: keeps the folder hint, naming the folder', () => {
    const failure: OpenFailure = { kind: 'folder-not-writable', user: 'app', folder: '/var/log/app' };
    expect(cannotOpen('--access-logfile', '/var/log/app/access.log', 'EACCES', failure)).toBe(
      'Cannot open --access-logfile /var/log/app/access.log: EACCES, user app may not create or open files in ' +
        "the folder /var/log/app. Make that folder writable by app, or choose another file ('-' for the standard stream).",
    );
  });

  it('a path under a file, and a failure it cannot tell more of', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const under = join(file, 'access.log');
    expect(cannotOpen('--access-logfile', under, 'ENOTDIR', diagnoseOpenFailure(under, 'ENOTDIR'))).toBe(
      `Cannot open --access-logfile ${under}: ENOTDIR, a part of its path is a file, not a folder. ` +
        "Choose another file ('-' for the standard stream).",
    );
    expect(cannotOpen('--access-logfile', '/x/a.log', 'ENOSPC', diagnoseOpenFailure('/x/a.log', 'ENOSPC'))).toBe(
      "Cannot open --access-logfile /x/a.log: ENOSPC. Make its folder writable, or choose another file ('-' for the standard stream).",
    );
    expect(cannotWrite('/x/a.log', 'ENOSPC', { kind: 'other' })).toBe(
      'gserve: cannot write the log file /x/a.log (ENOSPC); its lines are dropped until it can be written ' +
        'again: free the space or restore the folder, then send USR1 to reopen it\n',
    );
  });
});
