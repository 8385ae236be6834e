import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, describeErrno, StoreError } from '../errors.js';

/** File names in a key directory. */
export const PRIVATE_KEY_FILE = 'signer.key.pem';
export const PUBLIC_KEY_FILE = 'signer.pub.pem';

export interface Signer {
  privateKey: KeyObject;
  publicKeyPem: string;
  /** sha256 of the public key (SubjectPublicKeyInfo DER), hex. */
  fingerprint: string;
}

export function fingerprintOf(publicKeyPem: string): string {
  return createHash('sha256').update(createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' })).digest('hex');
}

/**
 * `netmon keygen`: an Ed25519 key pair for signing evidence-pack manifests. The private key is
 * written 0600 and never copied into a pack; existing keys are never overwritten.
 */
export function generateSigningKeys(dir: string): { privateKeyPath: string; publicKeyPath: string; fingerprint: string } {
  const privateKeyPath = join(dir, PRIVATE_KEY_FILE);
  const publicKeyPath = join(dir, PUBLIC_KEY_FILE);
  if (existsSync(privateKeyPath) || existsSync(publicKeyPath)) {
    throw new ConfigError('E_KEYS_EXIST', `signing keys already exist in ${dir}; they were not changed`, { hint: 'use them, or give another --keys directory' });
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(privateKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    writeFileSync(publicKeyPath, publicKeyPem, { mode: 0o644, flag: 'wx' });
  } catch (error) {
    throw new StoreError('E_KEYS_WRITE', `cannot write the signing keys: ${describeErrno(error, 'writing', dir)}`);
  }
  return { privateKeyPath, publicKeyPath, fingerprint: fingerprintOf(publicKeyPem) };
}

/** The signer in a key directory written by `netmon keygen`. */
export function loadSigner(dir: string): Signer {
  let privatePem: string;
  let publicKeyPem: string;
  try {
    privatePem = readFileSync(join(dir, PRIVATE_KEY_FILE), 'utf8');
    publicKeyPem = readFileSync(join(dir, PUBLIC_KEY_FILE), 'utf8');
  } catch (error) {
    throw new ConfigError('E_KEYS', `cannot read the signing keys: ${describeErrno(error, 'reading', dir)}`, { hint: 'create them with `netmon keygen --keys DIR`' });
  }
  const privateKey = createPrivateKey(privatePem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new ConfigError('E_KEYS', `${join(dir, PRIVATE_KEY_FILE)} is not an Ed25519 key`);
  return { privateKey, publicKeyPem, fingerprint: fingerprintOf(publicKeyPem) };
}

/** Ed25519 signature of the exact bytes (what `openssl pkeyutl -verify -rawin` checks). */
export function signBytes(signer: Signer, bytes: Uint8Array): Buffer {
  return sign(null, bytes, signer.privateKey);
}

export function verifyBytes(publicKeyPem: string, bytes: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(null, bytes, createPublicKey(publicKeyPem), signature);
  } catch {
    return false;
  }
}
