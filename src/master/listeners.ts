import { lookup } from 'node:dns/promises';
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
  close(): void;
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

async function bindOne(address: Address): Promise<Listener> {
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
    handle = check(createServerHandle(address.path, -1, -1), shown);
  } else {
    handle = check(createServerHandle(null, null, null, address.fd), shown);
    // An inherited TCP socket (USR2, socket activation) can tell its address; show that.
    const out: { address?: string; port?: number } = {};
    handle.getsockname?.(out);
    if (out.address && out.port !== undefined) shown = `http://${formatAddress({ kind: 'tcp', host: out.address, port: out.port })}`;
  }
  return {
    address,
    fd: handle.fd,
    url: address.kind === 'tcp' ? `http://${shown}` : shown,
    scheme: 'http',
    handle,
    close: () => handle.close(),
  };
}

export async function bindListeners(binds: string[]): Promise<Listener[]> {
  const listeners: Listener[] = [];
  try {
    for (const bind of binds) listeners.push(await bindOne(parseAddress(bind)));
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
export async function adoptListeners(fds: number[], binds: string[]): Promise<Listener[]> {
  const listeners: Listener[] = [];
  for (const [i, fd] of fds.entries()) {
    const listener = await bindOne({ kind: 'fd', fd });
    const bind = binds[i];
    const address = bind ? parseAddress(bind) : null;
    // A TCP socket tells its own address; a unix socket's is only known from the bind list.
    if (address?.kind === 'unix') listener.url = formatAddress(address);
    listeners.push({ ...listener, address: address ?? listener.address });
  }
  return listeners;
}
