import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { errorCode } from '../errors.js';

/**
 * The longest path a unix socket can have: sun_path holds 108 bytes on Linux (104 on macOS), the
 * last a NUL. Node 20's libuv cuts a longer path short without a word, so the server would listen
 * at a file nobody asked for (and leave it behind); Node 24 fails with EINVAL. Checked first, then.
 */
export const UNIX_SOCKET_PATH_MAX = process.platform === 'linux' ? 107 : 103;

/** Why `path` cannot name a unix socket, or null when it can. */
export function socketPathTooLong(path: string): string | null {
  const bytes = Buffer.byteLength(path);
  return bytes > UNIX_SOCKET_PATH_MAX
    ? `the path is ${bytes} bytes long, and a unix socket's path may have at most ${UNIX_SOCKET_PATH_MAX}`
    : null;
}

/** The error code a connection to the unix socket `path` fails with, or null when something answers. */
export function connectError(path: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('error', (err) => resolve(errorCode(err) ?? 'error'));
  });
}

/** The fix for a unix socket that cannot be made at `socketPath` (also the control socket's); null if not its folder's fault. */
export function unixSocketHint(name: string, socketPath: string): string | null {
  // libuv reports a missing folder as EACCES as well as ENOENT.
  if (name !== 'EACCES' && name !== 'ENOENT' && name !== 'ENOTDIR') return null;
  const folder = dirname(socketPath);
  return existsSync(folder)
    ? `Make ${folder} writable by this user, or choose another socket path.`
    : `The folder ${folder} does not exist: create it, or choose another socket path.`;
}
