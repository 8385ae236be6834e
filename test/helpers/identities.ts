import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';

/**
 * A self-signed identity made by openssl in `dir`: `name`.key, `name`.crt and `name`.p12 (the
 * PKCS#12 under `passphrase`). `newkey`: openssl req's key arguments, e.g. ['rsa:2048'] or
 * ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'].
 */
export function opensslIdentity(dir: string, name: string, newkey: string[], commonName: string, passphrase: string): { key: string; crt: string; p12: string } {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  const p12 = join(dir, `${name}.p12`);
  const req = spawnSync('openssl', ['req', '-x509', '-newkey', ...newkey, '-nodes', '-keyout', key, '-out', crt, '-days', '30', '-subj', `/CN=${commonName}`], { encoding: 'utf8' });
  expect(req.status, req.stderr).toBe(0);
  const pkcs12 = spawnSync('openssl', ['pkcs12', '-export', '-inkey', key, '-in', crt, '-out', p12, '-passout', `pass:${passphrase}`], { encoding: 'utf8' });
  expect(pkcs12.status, pkcs12.stderr).toBe(0);
  return { key, crt, p12 };
}
