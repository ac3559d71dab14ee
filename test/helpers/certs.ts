import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from './gserve.js';

export interface TestCerts {
  dir: string;
  cert: string;
  key: string;
}

/**
 * A self-signed certificate for localhost and 127.0.0.1, made at test time with the openssl CLI;
 * null (and the reason printed) when openssl is missing. Being self-signed, it is its own CA, which
 * also makes it usable as a client certificate checked against --ca-certs.
 */
export function makeCerts(): TestCerts | null {
  const dir = tempDir();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-addext',
        'extendedKeyUsage=serverAuth,clientAuth',
      ],
      { stdio: 'pipe' },
    );
  } catch (err) {
    console.log(
      `SKIP: cannot make a test certificate with the openssl CLI (Debian package openssl): ${(err as Error).message.split('\n')[0]}`,
    );
    return null;
  }
  return { dir, cert, key };
}
