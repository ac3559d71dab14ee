import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { formatAddress, parseAddress, type Address } from '../config/address.js';
import { BindError } from '../errors.js';
import { createServerHandle, type RawHandle } from './node-handles.js';
import { connectError, socketPathTooLong, unixSocketHint } from './socket-path.js';
import { handOver, type Owner } from '../worker/privileges.js';

/**
 * The listening sockets, owned by the master for its whole life so that workers come and go (HUP,
 * crashes, scaling) without the port ever closing. The master binds and listens (so a taken port
 * fails here, and connections made before a worker is up wait in the backlog), but never accepts:
 * its event loop never watches the sockets (see listenWithoutAccepting and docs/listening.md).
 * Workers inherit the descriptors and accept on them.
 */
export interface Listener {
  address: Address;
  /** The --bind value it was made from (none for a systemd socket), passed on to a USR2 master. */
  bind?: string;
  /** The file descriptor in this process. */
  fd: number;
  /** What the `Listening at` line shows: the real port when 0 was asked. */
  url: string;
  scheme: 'http' | 'https';
  /** The raw bound handle, which closes the descriptor. */
  handle: RawHandle;
  /** A TCP socket's port, which the workers check they listen on. */
  port?: number;
  /**
   * The handle opened on the same descriptor that made the socket listen, never closed (that would
   * close the descriptor twice). The sync class's master accepts through it (master/dispatch.ts),
   * because it can stop accepting without closing.
   */
  listening: RawHandle;
  /**
   * Closes this process's copy. `unlink` removes a unix socket's file; a master that handed its
   * sockets to a USR2 successor, or got them from a predecessor, must leave it to the other.
   */
  close(unlink?: boolean): void;
}

/** `socketPath`: the file of a unix socket, whose folder is the usual culprit, not a port. */
function check(result: RawHandle | number, what: string, socketPath?: string): RawHandle {
  if (typeof result === 'number') {
    const name = getSystemErrorName(result);
    // libuv may call a missing folder EACCES: the hint says what is wrong, the code would mislead.
    const folderMissing = socketPath !== undefined && !existsSync(dirname(socketPath));
    throw new BindError(`Cannot listen at ${what}: ${folderMissing ? '' : `${name}. `}${bindHint(name, socketPath)}`);
  }
  return result;
}

function bindHint(name: string, socketPath: string | undefined): string {
  const hint = socketPath === undefined ? null : unixSocketHint(name, socketPath);
  if (hint) return hint;
  if (name === 'EADDRINUSE') return 'Stop the other server using it, or choose another --bind.';
  if (name === 'EACCES') return 'Use a port above 1023, or run with the needed privilege.';
  return 'Check the --bind value.';
}

export interface BindOptions {
  /** Mask for `unix:` socket files. */
  umask: number;
  /** TLS is on: every listener is `https`. */
  tls: boolean;
  /** listen(2)'s queue length (--backlog). */
  backlog?: number;
  /** --user: `unix:` socket files go to the workers' user, as Gunicorn gives them. */
  owner?: Owner | null;
}

const DEFAULT_BACKLOG = 2048;

/**
 * listen(2) on a bound socket without this process ever accepting on it.
 *
 * A libuv listen also starts watching the socket, and the loop accepts whatever arrives. But the
 * watch only reaches epoll when the loop next polls, and a stream handle that is "reading" can stop
 * the watch. So: a second handle opened on the same descriptor (opened handles may read, bound ones
 * may not) listens, starts and at once stops reading, all before the loop turns. The socket is
 * listening (that state belongs to the socket, not to a handle) and nothing in this process polls
 * it. The second handle is kept, unused and never closed: closing it would close the descriptor.
 */
function listenWithoutAccepting(bound: RawHandle, backlog: number, shown: string): RawHandle {
  // libuv defers a TCP bind error (EADDRINUSE) to the first listen; a listen through another handle
  // would not see it and would listen on the unbound socket, on a random port of every address.
  const before: { address?: string; port?: number } = {};
  const sockname = bound.getsockname?.(before) ?? 0;
  if (sockname < 0) check(sockname, shown);
  const opened = check(createServerHandle(null, null, null, bound.fd), shown);
  const listening = opened.listen!(backlog);
  if (listening < 0) check(listening, shown);
  const reading = opened.readStart!();
  opened.readStop!();
  if (reading < 0)
    throw new BindError(
      `Cannot listen at ${shown}: this Node.js cannot listen without accepting (${getSystemErrorName(reading)}). ` +
        `Please report it.`,
    );
  // The socket must still be where it was bound: a listen on an unbound socket picks a random port.
  const after: { port?: number } = {};
  if (before.port !== undefined && (opened.getsockname?.(after) ?? 0) === 0 && after.port !== before.port) {
    throw new BindError(`Cannot listen at ${shown}: the socket moved to port ${after.port}. Check the --bind value.`);
  }
  return opened;
}

/** A socket file a live server answers on is refused; one left by a dead server is removed. */
async function clearStaleSocket(path: string, shown: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket())
    throw new BindError(
      `Cannot listen at ${shown}: the path exists and is not a socket. Remove it or choose another path.`,
    );
  if ((await connectError(path)) === null)
    throw new BindError(
      `Cannot listen at ${shown}: another server is listening on this socket. Stop it, or choose another path.`,
    );
  unlinkSync(path);
}

async function bindUnix(path: string, shown: string, umask: number, owner: Owner | null): Promise<RawHandle> {
  const tooLong = socketPathTooLong(path);
  if (tooLong) throw new BindError(`Cannot listen at ${shown}: ${tooLong}. Choose a shorter path.`);
  await clearStaleSocket(path, shown);
  const previous = process.umask(umask);
  try {
    const handle = check(createServerHandle(path, -1, -1), shown, path);
    handOver(owner, path);
    return handle;
  } finally {
    process.umask(previous);
  }
}

/** What the log shows for an inherited socket: its real address when it is TCP. */
function describeInherited(handle: RawHandle, fallback: string, scheme: string): string {
  const out: { address?: string; port?: number } = {};
  if (handle.getsockname && handle.getsockname(out) === 0 && out.address !== undefined) {
    return `${scheme}://${formatAddress({ kind: 'tcp', host: out.address, port: out.port ?? 0 })}`;
  }
  return fallback;
}

async function bindOne(address: Address, opts: BindOptions): Promise<Listener> {
  const bound = await bindOnly(address, opts);
  const raw = bound.handle;
  try {
    if (address.kind === 'fd') checkInheritedIsBound(raw, formatAddress(address));
    const listening = listenWithoutAccepting(raw, opts.backlog ?? DEFAULT_BACKLOG, bound.url);
    const out: { port?: number } = {};
    return { ...bound, listening, port: raw.getsockname?.(out) === 0 ? out.port : undefined };
  } catch (err) {
    bound.close();
    throw err;
  }
}

/** The handle on an inherited descriptor, or why there is none: the number is the culprit, not a port. */
function inherited(result: RawHandle | number, fd: number, shown: string): RawHandle {
  if (typeof result !== 'number') return result;
  throw new BindError(
    `Cannot listen at ${shown}: descriptor ${fd} is not a socket gserve inherited (${getSystemErrorName(result)}). ` +
      `Start gserve from the process that opened it (systemd's socket activation, a supervisor) with the socket ` +
      `on descriptor ${fd}, or give HOST:PORT for gserve to bind.`,
  );
}

/** An inherited TCP socket on port 0 is not bound: listening on it would pick a random port. */
function checkInheritedIsBound(handle: RawHandle, shown: string): void {
  const out: { address?: string; port?: number } = {};
  if (handle.getsockname?.(out) === 0 && out.port === 0) {
    throw new BindError(
      `Cannot listen at ${shown}: the inherited socket is not bound to an address. ` +
        'Bind it before passing it to gserve.',
    );
  }
}

async function bindOnly(address: Address, opts: BindOptions): Promise<Omit<Listener, 'listening'>> {
  const scheme = opts.tls ? 'https' : 'http';
  let handle: RawHandle;
  let shown = formatAddress(address);
  if (address.kind === 'tcp') {
    let host = address.host;
    if (net.isIP(host) === 0) {
      try {
        // Loaded for a host name only: node:dns costs the master about 1 MB of RSS.
        const { lookup } = await import('node:dns/promises');
        host = (await lookup(host)).address;
      } catch {
        throw new BindError(
          `Cannot listen at ${shown}: the host name ${JSON.stringify(address.host)} does not resolve. Use an IP ` +
            `address or a known host name.`,
        );
      }
    }
    handle = check(createServerHandle(host, address.port, net.isIP(host)), shown);
    const out: { port?: number } = {};
    const named = handle.getsockname?.(out) ?? 0;
    if (named < 0) {
      handle.close();
      check(named, shown); // the bind error libuv deferred (EADDRINUSE)
    }
    shown = formatAddress({ kind: 'tcp', host, port: out.port ?? address.port });
  } else if (address.kind === 'unix') {
    handle = await bindUnix(address.path, shown, opts.umask, opts.owner ?? null);
  } else {
    handle = inherited(createServerHandle(null, null, null, address.fd), address.fd, shown);
    shown = describeInherited(handle, shown, scheme);
  }
  return {
    address,
    fd: handle.fd,
    url: address.kind === 'tcp' ? `${scheme}://${shown}` : shown,
    scheme,
    handle,
    close: (unlink = true) => {
      // libuv unlinks a unix socket's file when the handle that bound it closes; a master whose
      // successor serves on the same file leaves its copy to the process exit instead.
      if (!unlink && address.kind === 'unix') return;
      handle.close();
      if (unlink && address.kind === 'unix') removeSocketFile(address.path);
    },
  };
}

function removeSocketFile(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * systemd socket activation (sd_listen_fds): the sockets start at fd 3, `LISTEN_FDS` of them, meant
 * for us when `LISTEN_PID` is our pid; `LISTEN_FDNAMES` names them. The variables are removed so
 * that workers and children do not take the sockets for theirs.
 */
export function systemdListenFds(
  env: NodeJS.ProcessEnv = process.env,
): Array<{ fd: number; name: string | undefined }> {
  const count = Number(env.LISTEN_FDS);
  const forUs = env.LISTEN_PID === String(process.pid);
  const names = env.LISTEN_FDNAMES?.split(':');
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (!forUs || !Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, i) => ({ fd: 3 + i, name: names?.[i] }));
}

export async function bindListeners(
  binds: string[],
  opts: BindOptions = { umask: 0, tls: false },
): Promise<Listener[]> {
  const listeners: Listener[] = [];
  const activated = systemdListenFds();
  try {
    if (activated.length > 0) {
      // Like Gunicorn: sockets handed over by systemd replace --bind.
      for (const { fd, name } of activated) {
        const listener = await bindOne({ kind: 'fd', fd }, opts);
        listener.url = `systemd fd ${fd}${name && name !== 'unknown' ? ` "${name}"` : ''}: ${listener.url}`;
        listeners.push(listener);
      }
      return listeners;
    }
    for (const bind of binds) {
      const address = parseAddress(bind);
      listeners.push({
        ...(await bindOne(address, opts).catch((err) => inUseByOwn(err, bind, address, listeners))),
        bind,
      });
    }
  } catch (err) {
    for (const l of listeners) l.close();
    throw err;
  }
  return listeners;
}

/**
 * EADDRINUSE for a port an earlier --bind of this master already took (the same address twice, or
 * an address that 0.0.0.0 or localhost already covers): the "other server" is gserve itself.
 */
function inUseByOwn(err: unknown, bind: string, address: Address, earlier: Listener[]): never {
  const port = address.kind === 'tcp' ? address.port : 0;
  const own =
    port !== 0 && err instanceof BindError && err.message.includes('EADDRINUSE')
      ? earlier.find((l) => l.address.kind === 'tcp' && l.address.port === port)
      : undefined;
  if (!own) throw err;
  throw new BindError(
    `Cannot listen at ${bind}: the --bind ${own.bind ?? own.url} given before it already takes port ${port}. ` +
      'Give each address once (0.0.0.0 covers every IPv4 address).',
  );
}

/**
 * USR2: the new master adopts the listening sockets its parent passed down (GSERVE_FDS, like
 * Gunicorn's GUNICORN_FD) instead of binding, so the port never closes during an upgrade. `binds`:
 * the --bind value each was made from, as the old master passed them on.
 */
export async function adoptListeners(fds: number[], binds: string[], opts: BindOptions): Promise<Listener[]> {
  const listeners: Listener[] = [];
  for (const [i, fd] of fds.entries()) {
    const listener = await bindOne({ kind: 'fd', fd }, opts);
    const bind = binds[i];
    const address = bind ? parseAddress(bind) : null;
    // A TCP socket tells its own address; a unix socket's is only known from the bind list.
    if (address?.kind === 'unix') {
      listener.url = formatAddress(address);
      // The file is this master's to remove now, as the master that bound it would have: closing an
      // adopted handle does not unlink it (libuv knows no path for it).
      const closeHandle = listener.close;
      listener.close = (unlink = true) => {
        if (!unlink) return;
        closeHandle();
        removeSocketFile(address.path);
      };
    }
    listeners.push({ ...listener, address: address ?? listener.address, bind });
  }
  return listeners;
}
