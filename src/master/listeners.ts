import { lookup } from 'node:dns/promises';
import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { formatAddress, parseAddress, type Address } from '../config/address.js';
import { BindError } from '../errors.js';

/**
 * The listening sockets, owned by the master for its whole life so that workers come and go (HUP,
 * crashes, scaling) without the port ever closing. The master only binds: it never accepts, so
 * its copy of a socket is never polled. Workers inherit the descriptors and accept on them.
 */
export interface Listener {
  address: Address;
  /** The file descriptor in this process. */
  fd: number;
  /** What the `Listening at` line shows: the real port when 0 was asked. */
  url: string;
  scheme: 'http' | 'https';
  /** The raw bound handle, for the sync class, where the master accepts itself (master/dispatch.ts). */
  handle: object;
  /**
   * Closes this process's copy. `unlink` removes a unix socket's file; a master that handed its
   * sockets to a USR2 successor, or got them from a predecessor, must leave it to the other.
   */
  close(unlink?: boolean): void;
}

interface RawHandle {
  fd: number;
  getsockname?(out: { address?: string; port?: number; family?: string }): number;
  close(): void;
}

// Node's bind-without-listen: the same call node:cluster uses to make the handles it shares.
const createServerHandle = (net as unknown as { _createServerHandle: (...args: unknown[]) => RawHandle | number })._createServerHandle;

function check(result: RawHandle | number, what: string): RawHandle {
  if (typeof result === 'number') {
    const name = getSystemErrorName(result);
    const hint =
      name === 'EADDRINUSE' ? 'Stop the other server using it, or choose another --bind.' : name === 'EACCES' ? 'Use a port above 1023, or run with the needed privilege.' : 'Check the --bind value.';
    throw new BindError(`Cannot listen at ${what}: ${name}. ${hint}`);
  }
  return result;
}

export interface BindOptions {
  /** Mask for `unix:` socket files. */
  umask: number;
  /** TLS is on: every listener is `https`. */
  tls: boolean;
}

/** A socket file a live server answers on is refused; one left by a dead server is removed. */
async function clearStaleSocket(path: string, shown: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) throw new BindError(`Cannot listen at ${shown}: the path exists and is not a socket. Remove it or choose another path.`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
  });
  if (live) throw new BindError(`Cannot listen at ${shown}: another server is listening on this socket. Stop it, or choose another path.`);
  unlinkSync(path);
}

function bindUnix(path: string, shown: string, umask: number): RawHandle {
  const previous = process.umask(umask);
  try {
    return check(createServerHandle(path, -1, -1), shown);
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
  const scheme = opts.tls ? 'https' : 'http';
  let handle: RawHandle;
  let shown = formatAddress(address);
  if (address.kind === 'tcp') {
    let host = address.host;
    if (net.isIP(host) === 0) {
      try {
        host = (await lookup(host)).address;
      } catch {
        throw new BindError(`Cannot listen at ${shown}: the host name ${JSON.stringify(address.host)} does not resolve. Use an IP address or a known host name.`);
      }
    }
    handle = check(createServerHandle(host, address.port, net.isIP(host)), shown);
    const out: { port?: number } = {};
    handle.getsockname?.(out);
    shown = formatAddress({ kind: 'tcp', host, port: out.port ?? address.port });
  } else if (address.kind === 'unix') {
    await clearStaleSocket(address.path, shown);
    handle = bindUnix(address.path, shown, opts.umask);
  } else {
    handle = check(createServerHandle(null, null, null, address.fd), shown);
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
export function systemdListenFds(env: NodeJS.ProcessEnv = process.env): Array<{ fd: number; name: string | undefined }> {
  const count = Number(env.LISTEN_FDS);
  const forUs = env.LISTEN_PID === String(process.pid);
  const names = env.LISTEN_FDNAMES?.split(':');
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (!forUs || !Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, i) => ({ fd: 3 + i, name: names?.[i] }));
}

export async function bindListeners(binds: string[], opts: BindOptions = { umask: 0, tls: false }): Promise<Listener[]> {
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
    for (const bind of binds) listeners.push(await bindOne(parseAddress(bind), opts));
  } catch (err) {
    for (const l of listeners) l.close();
    throw err;
  }
  return listeners;
}

/**
 * USR2: the new master adopts the listening sockets its parent passed down (GSERVE_FDS, like
 * Gunicorn's GUNICORN_FD) instead of binding, so the port never closes during an upgrade.
 */
export async function adoptListeners(fds: number[], binds: string[], opts: BindOptions): Promise<Listener[]> {
  const listeners: Listener[] = [];
  for (const [i, fd] of fds.entries()) {
    const listener = await bindOne({ kind: 'fd', fd }, opts);
    const bind = binds[i];
    const address = bind ? parseAddress(bind) : null;
    // A TCP socket tells its own address; a unix socket's is only known from the bind list.
    if (address?.kind === 'unix') listener.url = formatAddress(address);
    listeners.push({ ...listener, address: address ?? listener.address });
  }
  return listeners;
}
