import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from './gserve.js';

export interface TestCerts {
  dir: string;
  cert: string;
  key: string;
}

let shared: TestCerts | undefined;

/**
 * The test certificate of this test file, made on first use. Only for tests skipped with
 * `skipIf(missing('openssl'))`: without openssl it throws.
 */
export function testCerts(): TestCerts {
  shared ??= makeCerts();
  return shared;
}

/** The flags that serve HTTPS with the test certificate (testCerts()). */
export function tlsArgs(): string[] {
  const { cert, key } = testCerts();
  return ['--certfile', cert, '--keyfile', key];
}

/**
 * A self-signed certificate for localhost and 127.0.0.1, made at test time with the openssl CLI.
 * Being self-signed, it is its own CA, which also makes it a client certificate that passes a check
 * against --ca-certs.
 */
function makeCerts(): TestCerts {
  const dir = tempDir();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
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
  return { dir, cert, key };
}
