import { BlockList, isIP, type Socket } from 'node:net';

/**
 * Who the client is, when a proxy stands in front. The socket's peer is the proxy; its
 * `Forwarded` / `X-Forwarded-For` / `X-Forwarded-Proto` headers name the real client and scheme,
 * but anyone can send those headers, so they are believed only from the peers in
 * `--forwarded-allow-ips` (like Gunicorn and Uvicorn).
 */

export interface ClientInfo {
  clientAddress: string;
  clientPort: number;
  scheme: 'http' | 'https';
}

/** Decides whether an address is a trusted proxy. */
export class TrustedPeers {
  private readonly all: boolean;
  private readonly list = new BlockList();

  constructor(
    entries: readonly string[],
    /** The one header family read (--forwarded-headers): a proxy passes the other on as the client wrote it. */
    readonly headers: 'x-forwarded' | 'forwarded' = 'x-forwarded',
  ) {
    this.all = entries.includes('*');
    for (const entry of entries) {
      if (entry === '*') continue;
      const slash = entry.indexOf('/');
      const ip = slash < 0 ? entry : entry.slice(0, slash);
      const bits = slash < 0 ? undefined : entry.slice(slash + 1);
      // BlockList checks the address itself; isIP() here would compile node's IPv6 pattern at every worker's start-up (about 20 ms).
      const family = ip.includes(':') ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(ip, family);
      else this.list.addSubnet(ip, Number(bits), family);
    }
  }

  has(address: string | undefined): boolean {
    if (this.all) return true;
    if (!address) return false;
    const ip = unmapped(address);
    const family = isIP(ip);
    return family !== 0 && this.list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) compares equal to `10.0.0.1`. */
const unmapped = (address: string) =>
  address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;

/**
 * Marks a connection that came in on a `unix:` listener. Its peer is a local process that the
 * socket file's permissions let in (typically nginx), so it is trusted, like in Gunicorn.
 */
export function markUnixPeer(socket: object, unix = true): void {
  if (unix) unixPeers.add(socket);
  else unixPeers.delete(socket);
}

export const isUnixPeer = (socket: object): boolean => unixPeers.has(socket);

/** A fact about each connection, held weakly: nothing in it is shared between connections or configured. */
const unixPeers = new WeakSet<object>();

export const isTrustedPeer = (socket: Pick<Socket, 'remoteAddress'>, trusted: TrustedPeers): boolean =>
  isUnixPeer(socket) || trusted.has(socket.remoteAddress);

type HeaderGetter = (lowerName: string) => string | undefined;

interface Hop {
  address?: string;
  port?: number;
  proto?: string;
}

/** `for=` the way RFC 7239 writes it: `192.0.2.1`, `"[2001:db8::1]:4711"`, `"192.0.2.1:80"`, `unknown`, `_hidden`. */
function parseNode(value: string): { address?: string; port?: number } {
  const v = value.trim().replace(/^"(.*)"$/, '$1');
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  if (v6) return isIP(v6[1]!) === 6 ? { address: v6[1], port: v6[2] ? Number(v6[2]) : undefined } : {};
  if (isIP(v)) return { address: v };
  const v4 = /^([\d.]+):(\d+)$/.exec(v);
  if (v4 && isIP(v4[1]!) === 4) return { address: v4[1], port: Number(v4[2]) };
  return {};
}

function forwardedHops(header: string): Hop[] {
  return header.split(',').map((element) => {
    const hop: Hop = {};
    for (const pair of element.split(';')) {
      const at = pair.indexOf('=');
      if (at < 0) continue;
      const key = pair.slice(0, at).trim().toLowerCase();
      const value = pair.slice(at + 1).trim();
      if (key === 'for') Object.assign(hop, parseNode(value));
      else if (key === 'proto') hop.proto = value.replace(/^"(.*)"$/, '$1').toLowerCase();
    }
    return hop;
  });
}

function xForwardedHops(forFor: string | undefined, proto: string | undefined): Hop[] {
  const hops: Hop[] = (forFor ?? '')
    .split(',')
    .filter((s) => s.trim())
    .map((s) => parseNode(s));
  const scheme = proto?.split(',')[0]?.trim().toLowerCase();
  if (scheme) {
    if (hops.length === 0) hops.push({});
    hops[0]!.proto = scheme;
  }
  return hops;
}

/**
 * The client is the right-most hop that is not itself a trusted proxy: hops to its left were
 * written by the client and could be anything. The scheme is the one the first proxy saw.
 */
function pick(hops: Hop[], peer: ClientInfo, trusted: TrustedPeers): ClientInfo {
  const out = { ...peer };
  const withAddress = hops.filter((h) => h.address);
  let client = withAddress[0];
  for (let i = withAddress.length - 1; i >= 0; i--) {
    if (!trusted.has(withAddress[i]!.address)) {
      client = withAddress[i];
      break;
    }
  }
  if (client?.address) {
    out.clientAddress = client.address;
    out.clientPort = client.port ?? 0;
  }
  const proto = hops.find((h) => h.proto)?.proto;
  if (proto === 'http' || proto === 'https') out.scheme = proto;
  return out;
}

/** `clientInfo` for a request of gserve's engine: what fetch's URL, WSGI's environ and ASGI's scope show. */
export function requestClient(
  req: {
    socket: Pick<Socket, 'remoteAddress' | 'remotePort'>;
    scheme: 'http' | 'https';
    header(lowerName: string): string | undefined;
  },
  trusted: TrustedPeers,
): ClientInfo {
  return clientInfo(req.socket, (name) => req.header(name), req.scheme, trusted);
}

/**
 * The client address, port and scheme of a request: the socket's peer (already the real client
 * when a PROXY protocol header was read), unless that peer is a trusted proxy that says otherwise.
 * Only one header family is read (--forwarded-headers): a proxy that sets one passes the other on
 * as the client wrote it, and reading both let any client choose its address and scheme.
 */
export function clientInfo(
  socket: Pick<Socket, 'remoteAddress' | 'remotePort'>,
  header: HeaderGetter,
  scheme: 'http' | 'https',
  trusted: TrustedPeers,
): ClientInfo {
  const peer: ClientInfo = { clientAddress: socket.remoteAddress ?? '', clientPort: socket.remotePort ?? 0, scheme };
  // Headers first: most requests carry none, and then the peer need not be checked.
  if (trusted.headers === 'forwarded') {
    const forwarded = header('forwarded');
    if (!forwarded || !isTrustedPeer(socket, trusted)) return peer;
    return pick(forwardedHops(forwarded), peer, trusted);
  }
  const xff = header('x-forwarded-for');
  const xfp = header('x-forwarded-proto');
  if (!(xff || xfp) || !isTrustedPeer(socket, trusted)) return peer;
  return pick(xForwardedHops(xff, xfp), peer, trusted);
}
