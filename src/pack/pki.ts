import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { createRequire } from 'node:module';
import type Forge from 'node-forge';
import { ConfigError } from '../errors.js';

/**
 * The one module that uses node-forge: X.509 certificates and PKCS#12 files (Node has no API to
 * issue a certificate or read a PKCS#12), the CMS of the PDF's PAdES signature, and reading that
 * CMS back to check a PDF. Keys and signatures themselves are node:crypto's.
 */

/**
 * The CMS signature a PAdES baseline (B-B) PDF signature carries (ETSI EN 319 142-1, sub-filter
 * ETSI.CAdES.detached): SignedData without content, the signer's certificate, and signed
 * attributes content-type, message-digest and signing-certificate-v2 (which binds the certificate
 * to the signature). No signing-time attribute: PAdES puts the time in the signature dictionary's
 * /M entry. node-forge encodes the ASN.1 and reads the PKCS#12; node:crypto signs (RSA, SHA-256).
 */

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
};

export interface CadesIdentity {
  privateKeyPem: string;
  certificate: Forge.pki.Certificate;
  certificatePem: string;
}

function forgeLib(): typeof Forge {
  return createRequire(import.meta.url)('node-forge') as typeof Forge;
}

/**
 * The RSA key and its certificate from a PKCS#12 identity, opened once per report: a wrong
 * passphrase or an unusable identity is reported before any PDF is written.
 */
export function openP12(p12: Buffer, passphrase: string, source = 'the PKCS#12 file'): CadesIdentity {
  const forge = forgeLib();
  const refuse = (message: string, hint?: string) => new ConfigError('E_KEYS', `the PKCS#12 identity ${source} ${message}`, hint ? { hint } : {});
  let parsed: Forge.pkcs12.Pkcs12Pfx;
  try {
    parsed = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(p12.toString('binary'))), passphrase);
  } catch (error) {
    throw new ConfigError('E_KEYS', `cannot open the PKCS#12 identity ${source}: ${error instanceof Error ? error.message : String(error)}`, { hint: 'check the file and --sign-p12-passphrase or --sign-p12-passphrase-file' });
  }
  const bagsOf = (type: string) => parsed.getBags({ bagType: type })[type] ?? [];
  const certBags = bagsOf(forge.pki.oids.certBag!);
  // node-forge leaves `cert` empty for the certificates it cannot read: those that are not RSA.
  if (certBags.length > 0 && certBags.every((b) => !b.cert)) throw refuse('holds a certificate that is not RSA; the PDF signature supports RSA identities only', 'export an RSA identity, or use the keygen one (omit --sign-p12)');
  if (certBags.length === 0) throw refuse('holds no certificate');
  const key = [...bagsOf(forge.pki.oids.pkcs8ShroudedKeyBag!), ...bagsOf(forge.pki.oids.keyBag!)].find((b) => b.key)?.key as Forge.pki.rsa.PrivateKey | undefined;
  if (!key) throw refuse('holds no RSA private key');
  const certificate = certBags.map((b) => b.cert).find((c): c is Forge.pki.Certificate => !!c && (c.publicKey as Forge.pki.rsa.PublicKey).n?.equals(key.n) === true);
  if (!certificate) throw refuse('holds no certificate for its private key');
  return { privateKeyPem: forge.pki.privateKeyToPem(key), certificate, certificatePem: forge.pki.certificateToPem(certificate) };
}

/** DER of a CMS SignedData (detached) over `content`. */
export function cadesDetachedSignature(content: Buffer, identity: CadesIdentity): Buffer {
  const forge = forgeLib();
  const { asn1 } = forge;
  const U = asn1.Class.UNIVERSAL;
  const T = asn1.Type;
  const der = (node: Forge.asn1.Asn1) => Buffer.from(asn1.toDer(node).getBytes(), 'binary');
  const bin = (b: Buffer) => b.toString('binary');
  const oid = (id: string) => asn1.create(U, T.OID, false, asn1.oidToDer(id).getBytes());
  const octets = (b: Buffer) => asn1.create(U, T.OCTETSTRING, false, bin(b));
  const algorithm = (id: string) => asn1.create(U, T.SEQUENCE, true, [oid(id), asn1.create(U, T.NULL, false, '')]);
  const attribute = (id: string, value: Forge.asn1.Asn1) => asn1.create(U, T.SEQUENCE, true, [oid(id), asn1.create(U, T.SET, true, [value])]);

  const certificateAsn1 = forge.pki.certificateToAsn1(identity.certificate);
  const certHash = createHash('sha256').update(der(certificateAsn1)).digest();
  const attributes = [
    attribute(OID.contentType, oid(OID.data)),
    attribute(OID.messageDigest, octets(createHash('sha256').update(content).digest())),
    // SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 { certHash } } (hashAlgorithm defaults to SHA-256)
    attribute(OID.signingCertificateV2, asn1.create(U, T.SEQUENCE, true, [asn1.create(U, T.SEQUENCE, true, [asn1.create(U, T.SEQUENCE, true, [octets(certHash)])])])),
  ];
  // DER orders a SET OF by encoding; the signature covers the attributes as an explicit SET.
  const encoded = attributes.map(der).sort(Buffer.compare);
  const signedAttrs = encoded.map((b) => asn1.fromDer(bin(b)));
  const signature = sign('sha256', der(asn1.create(U, T.SET, true, signedAttrs)), createPrivateKey(identity.privateKeyPem));

  const signerInfo = asn1.create(U, T.SEQUENCE, true, [
    asn1.create(U, T.INTEGER, false, asn1.integerToDer(1).getBytes()),
    asn1.create(U, T.SEQUENCE, true, [forge.pki.distinguishedNameToAsn1(identity.certificate.issuer), asn1.create(U, T.INTEGER, false, forge.util.hexToBytes(identity.certificate.serialNumber))]),
    algorithm(OID.sha256),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, encoded.map((b) => asn1.fromDer(bin(b)))),
    algorithm(OID.rsaEncryption),
    octets(signature),
  ]);
  const signedData = asn1.create(U, T.SEQUENCE, true, [
    asn1.create(U, T.INTEGER, false, asn1.integerToDer(1).getBytes()),
    asn1.create(U, T.SET, true, [algorithm(OID.sha256)]),
    asn1.create(U, T.SEQUENCE, true, [oid(OID.data)]),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [certificateAsn1]),
    asn1.create(U, T.SET, true, [signerInfo]),
  ]);
  return der(asn1.create(U, T.SEQUENCE, true, [oid(OID.signedData), asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [signedData])]));
}

/**
 * A self-signed X.509 certificate (RSA 2048, SHA-256, ten years) for the PDF signature, which PDF
 * readers and poppler's pdfsig check; node-forge builds it (Node has no API to issue certificates).
 * Users with a CA-issued identity give `--sign-p12` instead.
 */
export function createPdfIdentity(commonName = 'netmon evidence signer'): { p12: Buffer; certPem: string } {
  const forge = forgeLib();
  // Node generates the RSA key natively (node-forge's JavaScript generator takes seconds).
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKey = forge.pki.privateKeyFromPem(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = new Date(Date.now() + 3650 * 86_400_000);
  const attrs = [{ name: 'commonName', value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, nonRepudiation: true },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  const p12 = forge.pkcs12.toPkcs12Asn1(privateKey, [cert], '', { algorithm: '3des' });
  return { p12: Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary'), certPem: forge.pki.certificateToPem(cert) };
}

/**
 * Check the embedded signature of a PDF as `pdfsig` does, without poppler: the last signature's
 * /ByteRange must cover the whole file except its /Contents, the PKCS#7 messageDigest attribute
 * must equal the digest of those bytes, and the signed attributes must verify with the public key
 * of the signing certificate. node-forge parses the PKCS#7 (CMS) structure; node:crypto checks.
 */
export interface PdfSignatureCheck {
  ok: boolean;
  problem: string | null;
  /** The signing certificate, PEM, when the structure could be read. */
  certificatePem: string | null;
}

const DIGESTS: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

export function checkPdfSignature(pdf: Buffer): PdfSignatureCheck {
  const fail = (problem: string, certificatePem: string | null = null): PdfSignatureCheck => ({ ok: false, problem, certificatePem });
  const text = pdf.toString('latin1');
  const at = text.lastIndexOf('/ByteRange');
  if (at < 0) return fail('it carries no PDF signature');
  const m = /^\/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]/.exec(text.slice(at, at + 80));
  if (!m) return fail('its /ByteRange is malformed');
  const [start, len1, start2, len2] = m.slice(1, 5).map(Number) as [number, number, number, number];
  if (start !== 0 || start2 + len2 !== pdf.length || len1 >= start2) return fail('its signature does not cover the whole document (bytes were added or moved after signing)');
  if (pdf[len1] !== 0x3c || pdf[start2 - 1] !== 0x3e) return fail('its signature /Contents is not where /ByteRange says');
  const signed = Buffer.concat([pdf.subarray(0, len1), pdf.subarray(start2, start2 + len2)]);
  const der = Buffer.from(text.slice(len1 + 1, start2 - 1), 'hex');

  const forge = forgeLib();
  let certificatePem: string | null = null;
  try {
    const asn = (forge.asn1.fromDer as unknown as (b: Forge.util.ByteStringBuffer, o: { parseAllBytes: boolean }) => Forge.asn1.Asn1)(forge.util.createBuffer(der.toString('binary')), { parseAllBytes: false });
    const message = forge.pkcs7.messageFromAsn1(asn) as Forge.pkcs7.PkcsSignedData & { rawCapture: { authenticatedAttributes?: Forge.asn1.Asn1[]; signature?: string; digestAlgorithm?: string } };
    const cert = message.certificates[0];
    if (!cert) return fail('its signature holds no certificate');
    certificatePem = forge.pki.certificateToPem(cert);
    const attrs = message.rawCapture.authenticatedAttributes;
    const signature = message.rawCapture.signature;
    const digest = DIGESTS[forge.asn1.derToOid(message.rawCapture.digestAlgorithm ?? '')];
    if (!attrs || !signature || !digest) return fail('its signature lacks signed attributes or uses an unknown digest', certificatePem);
    const messageDigest = attrs
      .map((a) => a.value as Forge.asn1.Asn1[])
      .find((v) => forge.asn1.derToOid(v[0]!.value as string) === forge.pki.oids.messageDigest!);
    const claimed = ((messageDigest?.[1]?.value as Forge.asn1.Asn1[] | undefined)?.[0]?.value as string | undefined) ?? '';
    if (Buffer.from(claimed, 'binary').compare(createHash(digest).update(signed).digest()) !== 0) return fail('its content no longer matches the digest in its signature (the PDF was changed)', certificatePem);
    const signedAttrs = Buffer.from(forge.asn1.toDer(forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.SET, true, attrs)).getBytes(), 'binary');
    const key = createPublicKey(forge.pki.publicKeyToPem(cert.publicKey));
    if (!verify(digest, signedAttrs, key, Buffer.from(signature, 'binary'))) return fail('its signature does not verify with its certificate', certificatePem);
    return { ok: true, problem: null, certificatePem };
  } catch (error) {
    return fail(`its signature cannot be read: ${error instanceof Error ? error.message : String(error)}`, certificatePem);
  }
}
