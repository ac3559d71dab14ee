import { describe, expect, it } from 'vitest';
import { serverNameAndPort } from '../../src/interfaces/wsgi.js';

/** WSGI's SERVER_NAME and SERVER_PORT, from a Host value the engine has already found sound. */
describe('SERVER_NAME and SERVER_PORT', () => {
  const tcp: [string, number] = ['127.0.0.1', 8000];

  it("are Host's name and port, else the scheme's default port", () => {
    expect(serverNameAndPort('example.com', 'http', tcp)).toEqual(['example.com', '80']);
    expect(serverNameAndPort('example.com', 'https', tcp)).toEqual(['example.com', '443']);
    expect(serverNameAndPort('example.com:81', 'http', tcp)).toEqual(['example.com', '81']);
    expect(serverNameAndPort('example.com:', 'https', tcp)).toEqual(['example.com', '443']);
    expect(serverNameAndPort('10.0.0.1:8080', 'http', tcp)).toEqual(['10.0.0.1', '8080']);
  });

  it('keep an IPv6 name in its brackets, and find its port after them', () => {
    expect(serverNameAndPort('[::1]', 'http', tcp)).toEqual(['[::1]', '80']);
    expect(serverNameAndPort('[::1]:8000', 'http', tcp)).toEqual(['[::1]', '8000']);
    expect(serverNameAndPort('[2001:db8::1]:', 'https', tcp)).toEqual(['[2001:db8::1]', '443']);
  });

  it('without Host (or an empty one) are the listening address, an IPv6 one bracketed as from Host', () => {
    expect(serverNameAndPort(undefined, 'http', tcp)).toEqual(['127.0.0.1', '8000']);
    expect(serverNameAndPort('', 'http', tcp)).toEqual(['127.0.0.1', '8000']);
    expect(serverNameAndPort(undefined, 'http', ['::1', 8000])).toEqual(['[::1]', '8000']);
    expect(serverNameAndPort(undefined, 'http', ['/run/app.sock', null])).toEqual(['/run/app.sock', '']);
    expect(serverNameAndPort('example.com', 'http', ['/run/app.sock', null])).toEqual(['example.com', '80']);
  });
});
