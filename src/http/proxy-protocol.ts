import { isIP, type Socket } from 'node:net';
import { isTrustedPeer, isUnixPeer, markUnixPeer, type TrustedPeers } from './proxy.js';

/**
 * The PROXY protocol (HAProxy's spec, v1 text and v2 binary): a load balancer that forwards raw TCP
 * (HAProxy in `mode tcp`, an AWS NLB) writes one header naming the real client before the client's
 * bytes. We read it off the socket before HTTP or TLS start, then hand the socket on with the real
 * address in place of the balancer's, so every interface and the access log see the client.
 */

const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** v1 headers are at most 107 bytes; v2 carries TLVs, which we skip but bound. */
const V1_MAX = 107;
const V2_MAX = 16 + 4096;
const HEADER_TIMEOUT_MS = 10_000;

export interface ProxiedPeer {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

export class ProxyHeaderError extends Error {}

type Parsed = { length: number; peer: ProxiedPeer | null } | 'incomplete';

function parseV1(buf: Buffer): Parsed {
  const end = buf.indexOf('\r\n');
  if (end < 0) {
    if (buf.length >= V1_MAX) throw new ProxyHeaderError('PROXY v1 header longer than 107 bytes');
    return 'incomplete';
  }
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  if (parts[1] === 'UNKNOWN') return { length: end + 2, peer: null };
  const [, proto, src, , sport, dport] = parts;
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  const port = Number(sport);
  if (
    parts.length !== 6 ||
    family === 0 ||
    isIP(src ?? '') !== family ||
    !/^\d{1,5}$/.test(sport ?? '') ||
    port > 65535 ||
    !/^\d{1,5}$/.test(dport ?? '')
  ) {
    throw new ProxyHeaderError('malformed PROXY v1 header');
  }
  return { length: end + 2, peer: { address: src!, port, family: family === 4 ? 'IPv4' : 'IPv6' } };
}

/** RFC 5952 text, the way node shows peers: the longest run of zero groups becomes `::`. */
function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

function parseV2(buf: Buffer): Parsed {
  if (buf.length < 16) return 'incomplete';
  const versionCommand = buf[12]!;
  if (versionCommand >> 4 !== 2) throw new ProxyHeaderError('PROXY v2 header with an unknown version');
  const length = 16 + buf.readUInt16BE(14);
  if (length > V2_MAX) throw new ProxyHeaderError('PROXY v2 header too long');
  if (buf.length < length) return 'incomplete';
  const command = versionCommand & 0x0f;
  // LOCAL (0): the balancer's own health check; the peer stays the balancer.
  if (command === 0) return { length, peer: null };
  if (command !== 1) throw new ProxyHeaderError('PROXY v2 header with an unknown command');
  const family = buf[13]! >> 4;
  const body = buf.subarray(16, length);
  if (family === 1 && body.length >= 12) {
    return {
      length,
      peer: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8), family: 'IPv4' },
    };
  }
  if (family === 2 && body.length >= 36) {
    return { length, peer: { address: ipv6Text(body.subarray(0, 16)), port: body.readUInt16BE(32), family: 'IPv6' } };
  }
  return { length, peer: null }; // AF_UNSPEC or AF_UNIX: no address worth passing on
}

const SIGNATURES: ReadonlyArray<readonly [Buffer, 'v1' | 'v2']> = [
  [V1_PREFIX, 'v1'],
  [V2_SIGNATURE, 'v2'],
];

/** Whether `buf` can still become, or already is, the start of a PROXY header. */
function mightBeHeader(buf: Buffer): 'v1' | 'v2' | 'maybe' | 'no' {
  for (const [sig, name] of SIGNATURES) {
    const n = Math.min(buf.length, sig.length);
    if (buf.subarray(0, n).equals(sig.subarray(0, n))) return n === sig.length ? name : 'maybe';
  }
  return 'no';
}

/** Makes the socket report the client named by the header for its own peer address. */
export function setPeer(socket: Socket, peer: ProxiedPeer): void {
  markUnixPeer(socket, false); // the peer is now the remote client, no longer the local proxy
  Object.defineProperties(socket, {
    remoteAddress: { value: peer.address, configurable: true },
    remotePort: { value: peer.port, configurable: true },
    remoteFamily: { value: peer.family, configurable: true },
  });
}

/**
 * The PROXY header's client (and a unix listener's mark) carried over to a socket layered on top
 * (TLS over the raw socket).
 */
export function inheritPeer(raw: Socket, layered: Socket): void {
  if (isUnixPeer(raw)) markUnixPeer(layered);
  const own = Object.getOwnPropertyDescriptor(raw, 'remoteAddress');
  if (own)
    setPeer(layered, {
      address: raw.remoteAddress!,
      port: raw.remotePort!,
      family: raw.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4',
    });
}

/**
 * Reads a PROXY header from a trusted peer, then calls `next` with the socket, paused, its unread
 * bytes put back (a TLS layer takes them from there; a plain HTTP server must resume it). A
 * connection without a header is passed on untouched; an untrusted peer's bytes are never read for
 * a header, so its "PROXY ..." line reaches HTTP and is refused there. A malformed header closes
 * the connection.
 */
export function acceptProxyProtocol(
  socket: Socket,
  next: (socket: Socket) => void,
  onError: (err: Error, socket: Socket) => void,
  trusted: TrustedPeers,
): void {
  if (!isTrustedPeer(socket, trusted)) return next(socket);
  let buffered: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => finish(new ProxyHeaderError('no complete PROXY header in time')), HEADER_TIMEOUT_MS);
  timer.unref();
  const onData = (chunk: Buffer) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    try {
      const kind = mightBeHeader(buffered);
      if (kind === 'maybe') return;
      if (kind === 'no') return finish(null, 0);
      const parsed = kind === 'v1' ? parseV1(buffered) : parseV2(buffered);
      if (parsed === 'incomplete') return;
      if (parsed.peer) setPeer(socket, parsed.peer);
      finish(null, parsed.length);
    } catch (err) {
      finish(err instanceof Error ? err : new Error(String(err)));
    }
  };
  const onEnd = () => finish(new ProxyHeaderError('connection closed inside the PROXY header'));
  function finish(err: Error | null, consumed = 0): void {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onEnd);
    if (err) {
      onError(err, socket);
      socket.destroy();
      return;
    }
    socket.pause();
    if (buffered.length > consumed) socket.unshift(buffered.subarray(consumed));
    next(socket);
  }
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onEnd);
}
