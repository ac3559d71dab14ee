import { createRequire } from 'node:module';
import type { TlsOptions } from 'node:tls';
import { GserveError, ExitCode } from '../errors.js';

export class TlsSetupError extends GserveError {
  override name = 'TlsSetupError';
  constructor(message: string) {
    super('GSERVE_E_TLS', message, ExitCode.USAGE);
  }
}

/** The files and cipher list behind the options, to name the one at fault. */
export interface TlsSources {
  certfile: string;
  keyfile: string | null;
  ciphers: string | null;
}

/** node:crypto, loaded on first use, as node:tls is: a server without --certfile never needs it. */
const crypto = (): typeof import('node:crypto') => createRequire(import.meta.url)('node:crypto');

type CreateContext = (options: TlsOptions) => unknown;

/** OpenSSL's reason alone ("no cipher match"): its "error:0A0000B9:SSL routines::" prefix helps no operator. */
function reasonOf(err: unknown): string {
  if (err && typeof err === 'object' && 'reason' in err && typeof err.reason === 'string') return err.reason;
  return err instanceof Error ? err.message : String(err);
}

function fails(create: CreateContext, options: TlsOptions): unknown {
  try {
    create(options);
    return null;
  } catch (err) {
    return err ?? new Error('unknown error');
  }
}

const CERT_BLOCK = /-----BEGIN (TRUSTED )?CERTIFICATE-----[\s\S]*?-----END \1?CERTIFICATE-----/g;

/**
 * Node loads --ca-certs without a word when it holds no certificate (any text, a key, a DER file)
 * or a broken one, and stops at the first bad block: every client certificate would then fail to
 * verify, which looks like a client fault. So the file must hold only readable PEM certificates.
 */
export function checkCaCerts(pem: Buffer, path: string): void {
  const blocks = pem.toString('latin1').match(CERT_BLOCK) ?? [];
  if (blocks.length === 0)
    throw new TlsSetupError(
      `--ca-certs ${path} holds no PEM certificate, so no client certificate could verify. ` +
        'Give the CA certificates that sign the client certificates, in PEM ("-----BEGIN CERTIFICATE-----").',
    );
  blocks.forEach((block, i) => {
    if (block.startsWith('-----BEGIN TRUSTED')) return; // OpenSSL's own form, which X509Certificate does not read
    try {
      new (crypto().X509Certificate)(block);
    } catch (err) {
      throw new TlsSetupError(
        `--ca-certs ${path}: certificate ${i + 1} of ${blocks.length} cannot be read (${reasonOf(err)}), ` +
          'and Node would silently skip it and every one after it. Replace or remove it.',
      );
    }
  });
}

const hasPrivateKey = (pem: Buffer) => /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(pem.toString('latin1'));
const isEncrypted = (pem: Buffer) =>
  /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem.toString('latin1'));

/** Why the key cannot be loaded, naming --certfile when the key was looked for there. */
function keyFault(key: Buffer, src: TlsSources, err: unknown): TlsSetupError {
  if (!src.keyfile && !hasPrivateKey(key))
    return new TlsSetupError(
      `--certfile ${src.certfile} holds no private key, and no --keyfile was given. ` +
        'Give the key with --keyfile, or a --certfile PEM holding both the certificate and its key.',
    );
  const where = src.keyfile ? `--keyfile ${src.keyfile}` : `The private key in --certfile ${src.certfile}`;
  if (isEncrypted(key))
    return new TlsSetupError(
      `${where} is encrypted, and gserve has no passphrase setting. ` +
        `Decrypt it: openssl pkey -in ${src.keyfile ?? src.certfile} -out key.pem, then --keyfile key.pem.`,
    );
  if (!hasPrivateKey(key))
    return new TlsSetupError(
      `${where} holds no PEM private key. ` +
        'Give the key of --certfile in PEM ("-----BEGIN PRIVATE KEY-----"); ' +
        `convert a DER one with openssl pkey -inform DER -in ${src.keyfile} -out key.pem.`,
    );
  return new TlsSetupError(`${where} cannot be loaded (${reasonOf(err)}). Check that it is a PEM private key.`);
}

/**
 * Names the setting at fault once the whole context failed, by loading each part on its own:
 * OpenSSL's error alone ("DECODER routines::unsupported") does not say which file it read.
 * Null when no part fails alone, for the caller's general message.
 */
export function diagnoseTlsFailure(create: CreateContext, options: TlsOptions, src: TlsSources): TlsSetupError | null {
  if (fails(create, { cert: options.cert }))
    return new TlsSetupError(
      `--certfile ${src.certfile} holds no PEM certificate. ` +
        'Give the certificate chain in PEM ("-----BEGIN CERTIFICATE-----"); ' +
        `convert a DER one with openssl x509 -inform DER -in ${src.certfile} -out cert.pem.`,
    );
  const key = options.key as Buffer;
  const keyErr = fails(create, { key });
  if (keyErr) return keyFault(key, src, keyErr);
  const pairErr = fails(create, { key, cert: options.cert });
  if (pairErr) return mismatch(src, reasonOf(pairErr));
  if (src.ciphers !== null && fails(create, { ciphers: src.ciphers }))
    return new TlsSetupError(
      `--ciphers ${JSON.stringify(src.ciphers)} matches no cipher OpenSSL knows. ` +
        "List the names with `openssl ciphers`, or drop --ciphers for Node's defaults.",
    );
  return null;
}

function mismatch(src: TlsSources, reason: string): TlsSetupError {
  const pair = src.keyfile
    ? `--keyfile ${src.keyfile} does not match --certfile ${src.certfile}`
    : `The private key in --certfile ${src.certfile} does not match its certificate`;
  return new TlsSetupError(`${pair} (${reason}). Check that --keyfile matches --certfile and that both are PEM.`);
}

/**
 * OpenSSL takes a key of another type than the certificate (an RSA key for an EC certificate)
 * without complaint, as a key for another slot: the certificate is then served with no key and
 * every handshake fails. Comparing the leaf certificate's public key catches that at startup.
 */
export function checkKeyMatches(options: TlsOptions, src: TlsSources): void {
  const { X509Certificate, createPrivateKey } = crypto();
  let matches: boolean;
  try {
    matches = new X509Certificate(options.cert as Buffer).checkPrivateKey(createPrivateKey(options.key as Buffer));
  } catch {
    return; // OpenSSL loaded both, so only Node's own parser balks: OpenSSL's word stands
  }
  if (!matches) throw mismatch(src, "the key is not the certificate's");
}
