import { describe, expect, it } from 'vitest';
import { clientInfo, TrustedPeers } from '../../src/http/proxy.js';

const peer = (remoteAddress: string) => ({ remoteAddress, remotePort: 5555 });
const LOCAL = new TrustedPeers(['127.0.0.1', '::1']);
const headers = (h: Record<string, string>) => (name: string) => h[name];

describe('trusted peers', () => {
  it('matches addresses, CIDR blocks, IPv4-mapped IPv6 and *', () => {
    const t = new TrustedPeers(['127.0.0.1', '::1', '10.0.0.0/8']);
    expect(t.has('127.0.0.1')).toBe(true);
    expect(t.has('::ffff:127.0.0.1')).toBe(true);
    expect(t.has('::1')).toBe(true);
    expect(t.has('10.200.3.4')).toBe(true);
    expect(t.has('11.0.0.1')).toBe(false);
    expect(t.has(undefined)).toBe(false);
    expect(new TrustedPeers(['*']).has('8.8.8.8')).toBe(true);
  });
});

describe('clientInfo', () => {
  it('keeps the peer and scheme when the peer is not trusted', () => {
    const info = clientInfo(
      peer('192.0.2.9'),
      headers({ 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https' }),
      'http',
      LOCAL,
    );
    expect(info).toEqual({ clientAddress: '192.0.2.9', clientPort: 5555, scheme: 'http' });
  });

  it('takes the right-most untrusted X-Forwarded-For hop, and the first proto', () => {
    const trusted = new TrustedPeers(['127.0.0.1', '10.0.0.0/8']);
    const info = clientInfo(
      peer('127.0.0.1'),
      headers({ 'x-forwarded-for': '6.6.6.6, 198.51.100.1, 10.1.1.1', 'x-forwarded-proto': 'https, http' }),
      'http',
      trusted,
    );
    expect(info).toEqual({ clientAddress: '198.51.100.1', clientPort: 0, scheme: 'https' });
  });

  it('reads the one header family it is told to, with quoted IPv6 and ports; ignores unknown schemes', () => {
    const both = headers({
      forwarded: 'for="[2001:db8::7]:4711";proto=https',
      'x-forwarded-for': '9.9.9.9',
      'x-forwarded-proto': 'http',
    });
    // A proxy passes on the family it does not set as the client wrote it: never read, whichever it is.
    expect(clientInfo(peer('::1'), both, 'http', LOCAL)).toEqual({
      clientAddress: '9.9.9.9',
      clientPort: 0,
      scheme: 'http',
    });
    const forwardedOnly = new TrustedPeers(['::1'], 'forwarded');
    expect(clientInfo(peer('::1'), both, 'http', forwardedOnly)).toEqual({
      clientAddress: '2001:db8::7',
      clientPort: 4711,
      scheme: 'https',
    });
    expect(clientInfo(peer('::1'), headers({ 'x-forwarded-for': '6.6.6.6' }), 'http', forwardedOnly)).toMatchObject({
      clientAddress: '::1',
      scheme: 'http',
    });
    const odd = clientInfo(peer('127.0.0.1'), headers({ 'x-forwarded-proto': 'javascript' }), 'http', LOCAL);
    expect(odd.scheme).toBe('http');
  });
});
