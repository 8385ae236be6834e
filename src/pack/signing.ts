import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { closeSync, constants as fsConstants, existsSync, fstatSync, lstatSync, openSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { makeDirectories } from './make-dirs.js';
import { join } from 'node:path';
import { ConfigError, describeErrno, errnoCode, specialFileKind, StoreError } from '../errors.js';
import { othersMayWrite, ownedByUsOrRoot } from '../store/links.js';
import { createPdfIdentity } from './pki.js';
import { octalMode } from '../model/format.js';

/** File names in a key directory. */
export const PRIVATE_KEY_FILE = 'signer.key.pem';
export const PUBLIC_KEY_FILE = 'signer.pub.pem';
/** The PDF signing identity: an X.509 certificate and its key as PKCS#12 (no passphrase, 0600). */
export const P12_FILE = 'signer.p12';
export const CERT_FILE = 'signer.cert.pem';

export interface Signer {
  privateKey: KeyObject;
  publicKeyPem: string;
  /** sha256 of the public key (SubjectPublicKeyInfo DER), hex. */
  fingerprint: string;
}

export function fingerprintOf(publicKeyPem: string): string {
  return derFingerprint(createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }));
}

/** The fingerprint of a public key's SubjectPublicKeyInfo DER. */
function derFingerprint(spki: Buffer): string {
  return createHash('sha256').update(spki).digest('hex');
}

/**
 * `netmon keygen`: an Ed25519 key pair for signing evidence-pack manifests. The private key is
 * written 0600 and never copied into a pack; existing keys are never overwritten.
 */
export function generateSigningKeys(dir: string): { privateKeyPath: string; publicKeyPath: string; p12Path: string; certPath: string; fingerprint: string } {
  const privateKeyPath = join(dir, PRIVATE_KEY_FILE);
  const publicKeyPath = join(dir, PUBLIC_KEY_FILE);
  if ([PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, P12_FILE, CERT_FILE].some((f) => existsSync(join(dir, f)))) {
    throw new ConfigError('E_KEYS_EXIST', `signing keys already exist in ${dir}; they were not changed`, { hint: 'use them, or give another --keys directory' });
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pdfIdentity = createPdfIdentity();
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  // An existing directory must already be private: keys written into one that others can write
  // to could be swapped before the first report.
  checkKeyPlace(dir, []);
  // A key set is written whole or not at all: a half-written one (a full disk) would be refused
  // by the next keygen ("already exist") and fail every report.
  const written: string[] = [];
  let made: string | undefined;
  try {
    made = makeDirectories(dir, 0o700);
    const write = (path: string, content: string | Buffer, mode: number): void => {
      try {
        writeFileSync(path, content, { mode, flag: 'wx', flush: true });
      } catch (error) {
        // Made and then not written whole: ours to remove. Already there: someone else's.
        if (errnoCode(error) !== 'EEXIST') written.push(path);
        throw error;
      }
      written.push(path);
    };
    write(privateKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), 0o600);
    write(publicKeyPath, publicKeyPem, 0o644);
    write(join(dir, P12_FILE), pdfIdentity.p12, 0o600);
    write(join(dir, CERT_FILE), pdfIdentity.certPem, 0o644);
  } catch (error) {
    for (const path of written) {
      try {
        unlinkSync(path);
      } catch {
        // not made (the 'wx' open failed), or gone: nothing of ours to remove
      }
    }
    if (made === dir) {
      try {
        rmdirSync(dir);
      } catch {
        // not empty: it holds what someone else put there
      }
    }
    const failed = (error as NodeJS.ErrnoException).path ?? dir;
    throw new StoreError('E_KEYS_WRITE', `cannot write the signing keys: ${describeErrno(error, 'writing', failed)}; nothing of them was left in ${dir}`);
  }
  return { privateKeyPath, publicKeyPath, p12Path: join(dir, P12_FILE), certPath: join(dir, CERT_FILE), fingerprint: fingerprintOf(publicKeyPem) };
}

/**
 * A key directory is safe to sign from when no one else can read its private keys or put their
 * own in their place (as OpenSSH's StrictModes asks of ~/.ssh): the directory (after links)
 * owned by this user or root and not writable by group or others; each private key a regular
 * file, not a link, of the same owners, readable by its owner only. Else whoever can read a key
 * signs packs as you, and whoever can replace it has you sign with a key they hold. Throws a
 * ConfigError that names the problem and the command that fixes it.
 */
export function checkKeyPlace(dir: string, privateFiles: string[]): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return; // missing: the read that follows says so
  }
  const fix = (what: string, hint: string): never => {
    throw new ConfigError('E_KEYS_UNSAFE', `the signing keys in ${dir} are not private: ${what}; netmon does not sign with them`, { hint });
  };
  if (!ownedByUsOrRoot(st.uid)) fix(`the directory belongs to uid ${st.uid}`, `keep the keys in a directory of your own (netmon keygen --keys DIR makes one, mode 0700)`);
  if (othersMayWrite(st.mode)) fix(`the directory is writable by ${(st.mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${octalMode(st.mode)}), so another key could be put in place of yours`, `chmod go-w ${dir}`);
  for (const name of privateFiles) {
    const path = join(dir, name);
    let f;
    try {
      f = lstatSync(path);
    } catch {
      continue; // missing: the read that follows says so
    }
    if (f.isSymbolicLink()) fix(`${name} is a symbolic link`, `put the key file itself in ${dir}`);
    if (!f.isFile()) fix(`${name} is not a regular file`, `put the key file itself in ${dir}`);
    if (!ownedByUsOrRoot(f.uid)) fix(`${name} belongs to uid ${f.uid}`, `keep the keys in a directory of your own (netmon keygen --keys DIR)`);
    if ((f.mode & 0o077) !== 0) fix(`${name} can be read or written by others than its owner (mode ${octalMode(f.mode)})`, `chmod 600 ${path}`);
  }
}

/** What to do about a key set that is not what keygen wrote. */
function damagedKeysHint(dir: string): string {
  return `restore the key files of ${dir} from your backup, or make a new key set with \`netmon keygen --keys NEWDIR\` and publish its fingerprint`;
}

/** A key file is a few hundred bytes; anything far larger is not one (a link to /dev/zero, say). */
const KEY_FILE_MAX_BYTES = 64 * 1024;

/**
 * The text of one key file of a key directory: a regular file of at most KEY_FILE_MAX_BYTES,
 * read through one descriptor (what is checked is what is read). Errors name the file, and say
 * what to do about what actually went wrong.
 */
function readKeyFile(dir: string, name: string): string {
  const path = join(dir, name);
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (error) {
    const code = errnoCode(error);
    const others = [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE].filter((f) => f !== name && existsSync(join(dir, f)));
    const hint =
      code === 'EACCES'
        ? `run netmon as the user the keys belong to (ls -l ${dir}), or point --keys at your own key directory`
        : code === 'ENOENT' && others.length === 0
          ? `create them with \`netmon keygen --keys ${dir}\` (once; keep the directory private), or point --keys at the directory that holds them`
          : code === 'ENOENT'
            ? `${dir} holds ${others.join(' and ')} but not ${name}: restore ${name} from your backup of this key set, or make a new key set with \`netmon keygen --keys NEWDIR\` and publish its fingerprint`
            : `check ${path}`;
    throw new ConfigError('E_KEYS', `cannot read the signing key ${path}: ${describeErrno(error, 'opening', path)}`, { hint });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError('E_KEYS', `${path} is not a regular file (${specialFileKind(st) ?? 'a directory'}), so it is no key netmon wrote`, { hint: `put the key file itself in ${dir}` });
    if (st.size > KEY_FILE_MAX_BYTES) throw new ConfigError('E_KEYS', `${path} holds ${st.size} bytes, far more than a key file, so it is no key netmon wrote`, { hint: damagedKeysHint(dir) });
    return readFileSync(fd, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError('E_KEYS', `cannot read the signing key ${path}: ${describeErrno(error, 'reading', path)}`);
  } finally {
    closeSync(fd);
  }
}

/** The signer in a key directory written by `netmon keygen`. */
export function loadSigner(dir: string): Signer {
  checkKeyPlace(dir, [PRIVATE_KEY_FILE]);
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  const publicPath = join(dir, PUBLIC_KEY_FILE);
  const privatePem = readKeyFile(dir, PRIVATE_KEY_FILE);
  const publicKeyPem = readKeyFile(dir, PUBLIC_KEY_FILE);
  const damaged = damagedKeysHint(dir);
  let privateKey: KeyObject;
  let publicKey: KeyObject;
  try {
    privateKey = createPrivateKey(privatePem);
  } catch {
    throw new ConfigError('E_KEYS', `${privatePath} is not a private key in PEM form (empty, cut short or another kind of file)`, { hint: damaged });
  }
  try {
    publicKey = createPublicKey(publicKeyPem);
  } catch {
    throw new ConfigError('E_KEYS', `${publicPath} is not a public key in PEM form (empty, cut short or another kind of file)`, { hint: damaged });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new ConfigError('E_KEYS', `${privatePath} is not an Ed25519 key`, { hint: damaged });
  // The public key goes into every pack and is what verify checks the signature with: one that
  // is not this private key's would make every pack fail, and print a fingerprint that signed nothing.
  const derived = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const stored = publicKey.export({ type: 'spki', format: 'der' });
  if (publicKey.asymmetricKeyType !== 'ed25519' || !derived.equals(stored)) {
    throw new ConfigError('E_KEYS_MISMATCH', `${publicPath} is not the public key of ${privatePath}: packs signed with them would fail verification, so netmon does not sign with them`, { hint: damaged });
  }
  return { privateKey, publicKeyPem, fingerprint: derFingerprint(stored) };
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

/** The PDF signing identity of a key directory (or a user's own PKCS#12 file). */
export function loadPdfIdentity(dirOrFile: string, isFile = false): Buffer {
  const path = isFile ? dirOrFile : join(dirOrFile, P12_FILE);
  if (!isFile) checkKeyPlace(dirOrFile, [P12_FILE]);
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError('E_KEYS', `cannot read the PDF signing identity: ${describeErrno(error, 'reading', path)}`, { hint: isFile ? 'check the --sign-p12 path' : 'a key directory made before PDF signing has no signer.p12: create one with `netmon keygen --keys NEWDIR`, give --sign-p12 FILE, or leave the PDF out with --no-pdf' });
  }
}
