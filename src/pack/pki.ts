import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type Forge from 'node-forge';
import { ConfigError } from '../errors.js';

/**
 * The one module that uses node-forge: X.509 certificates and PKCS#12 files (Node has no API to
 * issue a certificate or read a PKCS#12), and the ASN.1 of the PDF's PAdES signature (CMS), built
 * and read back. Keys, certificates' public keys and signatures are node:crypto's, so an identity
 * may hold an RSA or an EC (ECDSA) key: node-forge itself reads RSA ones only.
 */

/**
 * The CMS signature a PAdES baseline (B-B) PDF signature carries (ETSI EN 319 142-1, sub-filter
 * ETSI.CAdES.detached): SignedData without content, the signer's certificate, and signed
 * attributes content-type, message-digest and signing-certificate-v2 (which binds the certificate
 * to the signature). No signing-time attribute: PAdES puts the time in the signature dictionary's
 * /M entry. node-forge encodes the ASN.1 and reads the PKCS#12; node:crypto signs (SHA-256 with
 * RSA, or ECDSA with SHA-256).
 */

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
};

/** A signing identity: its private key, and its certificate (DER and PEM). */
export interface CadesIdentity {
  privateKey: KeyObject;
  certificateDer: Buffer;
  certificatePem: string;
}

/** Key types the PDF signature supports, and how the CMS names their signature algorithm. */
const SIGNATURE_ALGORITHMS: Record<string, { oid: string; nullParameters: boolean }> = {
  rsa: { oid: OID.rsaEncryption, nullParameters: true },
  // RFC 5754: the parameters of ecdsa-with-SHA256 are absent.
  ec: { oid: OID.ecdsaWithSha256, nullParameters: false },
};

function forgeLib(): typeof Forge {
  return createRequire(import.meta.url)('node-forge') as typeof Forge;
}

/**
 * The key (RSA or EC) and its certificate from a PKCS#12 identity, opened once per report: a wrong
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
  // node-forge decodes RSA keys and certificates; of others it keeps the ASN.1 (bag.asn1), which
  // node:crypto reads.
  type Bag = Forge.pkcs12.Bag & { asn1?: Forge.asn1.Asn1 };
  const bagsOf = (type: string): Bag[] => (parsed.getBags({ bagType: type })[type] ?? []) as Bag[];
  const derOf = (node: Forge.asn1.Asn1): Buffer => Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');
  const certificates: X509Certificate[] = [];
  for (const bag of bagsOf(forge.pki.oids.certBag!)) {
    const der = bag.cert ? derOf(forge.pki.certificateToAsn1(bag.cert)) : bag.asn1 ? derOf(bag.asn1) : null;
    if (der === null) continue;
    try {
      certificates.push(new X509Certificate(der));
    } catch {
      // not an X.509 certificate that Node can read: left out
    }
  }
  if (certificates.length === 0) throw refuse('holds no certificate');
  const keyBag = [...bagsOf(forge.pki.oids.pkcs8ShroudedKeyBag!), ...bagsOf(forge.pki.oids.keyBag!)].find((b) => b.key || b.asn1);
  if (!keyBag) throw refuse('holds no private key');
  let privateKey: KeyObject;
  try {
    privateKey = keyBag.key
      ? createPrivateKey(forge.pki.privateKeyToPem(keyBag.key as Forge.pki.rsa.PrivateKey))
      : createPrivateKey({ key: derOf(keyBag.asn1!), format: 'der', type: 'pkcs8' });
  } catch (error) {
    throw refuse(`holds a private key that cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  const type = privateKey.asymmetricKeyType ?? 'unknown';
  if (SIGNATURE_ALGORITHMS[type] === undefined) throw refuse(`holds a ${type} key; the PDF signature supports RSA and EC (ECDSA) keys`, 'export an RSA or EC identity, or use the keygen one (omit --sign-p12)');
  const certificate = certificates.find((c) => c.checkPrivateKey(privateKey));
  if (!certificate) throw refuse('holds no certificate for its private key');
  return { privateKey, certificateDer: certificate.raw, certificatePem: certificate.toString() };
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
  const algorithm = (id: string, nullParameters = true) => asn1.create(U, T.SEQUENCE, true, nullParameters ? [oid(id), asn1.create(U, T.NULL, false, '')] : [oid(id)]);
  const attribute = (id: string, value: Forge.asn1.Asn1) => asn1.create(U, T.SEQUENCE, true, [oid(id), asn1.create(U, T.SET, true, [value])]);

  // Read as it is (BIT STRINGs not decoded), so that it is written back byte for byte.
  const certificateAsn1 = (asn1.fromDer as unknown as (b: Forge.util.ByteStringBuffer, o: { decodeBitStrings: boolean }) => Forge.asn1.Asn1)(forge.util.createBuffer(bin(identity.certificateDer)), { decodeBitStrings: false });
  const certHash = createHash('sha256').update(identity.certificateDer).digest();
  // IssuerAndSerialNumber, as the certificate states them: tbsCertificate is [version], serial,
  // signature algorithm, issuer, ...
  const tbs = (certificateAsn1.value as Forge.asn1.Asn1[])[0]!.value as Forge.asn1.Asn1[];
  const first = tbs[0]!.tagClass === asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  const serial = tbs[first]!;
  const issuer = tbs[first + 2]!;
  const scheme = SIGNATURE_ALGORITHMS[identity.privateKey.asymmetricKeyType ?? '']!;
  const attributes = [
    attribute(OID.contentType, oid(OID.data)),
    attribute(OID.messageDigest, octets(createHash('sha256').update(content).digest())),
    // SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 { certHash } } (hashAlgorithm defaults to SHA-256)
    attribute(OID.signingCertificateV2, asn1.create(U, T.SEQUENCE, true, [asn1.create(U, T.SEQUENCE, true, [asn1.create(U, T.SEQUENCE, true, [octets(certHash)])])])),
  ];
  // DER orders a SET OF by encoding; the signature covers the attributes as an explicit SET.
  const encoded = attributes.map(der).sort(Buffer.compare);
  const signedAttrs = encoded.map((b) => asn1.fromDer(bin(b)));
  const signature = sign('sha256', der(asn1.create(U, T.SET, true, signedAttrs)), identity.privateKey);

  const signerInfo = asn1.create(U, T.SEQUENCE, true, [
    asn1.create(U, T.INTEGER, false, asn1.integerToDer(1).getBytes()),
    asn1.create(U, T.SEQUENCE, true, [issuer, serial]),
    algorithm(OID.sha256),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, encoded.map((b) => asn1.fromDer(bin(b)))),
    algorithm(scheme.oid, scheme.nullParameters),
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
 * of the signing certificate (RSA or EC). node-forge parses the ASN.1 of the CMS; node:crypto
 * reads the certificate and checks the signature.
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
  const { asn1 } = forge;
  let certificatePem: string | null = null;
  try {
    const root = (asn1.fromDer as unknown as (b: Forge.util.ByteStringBuffer, o: { parseAllBytes: boolean; decodeBitStrings: boolean }) => Forge.asn1.Asn1)(forge.util.createBuffer(der.toString('binary')), { parseAllBytes: false, decodeBitStrings: false });
    // ContentInfo { contentType, [0] SignedData { version, digestAlgorithms, encapContentInfo,
    // [0] certificates, [1] crls, signerInfos } }, read by tag (node-forge's own PKCS#7 reader
    // takes RSA certificates only).
    const children = (node: Forge.asn1.Asn1 | undefined): Forge.asn1.Asn1[] => (node !== undefined && Array.isArray(node.value) ? node.value : []);
    const oidOf = (node: Forge.asn1.Asn1 | undefined): string => (node !== undefined && node.type === asn1.Type.OID && typeof node.value === 'string' ? asn1.derToOid(node.value) : '');
    const [contentType, wrapped] = children(root);
    if (oidOf(contentType) !== OID.signedData) return fail('its signature is not a CMS SignedData');
    const signedData = children(children(wrapped)[0]);
    const certificatesNode = signedData.find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 0);
    const signerInfos = children(signedData.at(-1));
    const certNode = children(certificatesNode)[0];
    if (certNode === undefined) return fail('its signature holds no certificate');
    const cert = new X509Certificate(Buffer.from(asn1.toDer(certNode).getBytes(), 'binary'));
    certificatePem = cert.toString();
    const signer = children(signerInfos[0]);
    const digest = DIGESTS[oidOf(children(signer[2])[0])];
    const attrsNode = signer.find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 0);
    const signatureNode = signer.find((n) => n.tagClass === asn1.Class.UNIVERSAL && n.type === asn1.Type.OCTETSTRING);
    const attrs = children(attrsNode);
    if (attrs.length === 0 || signatureNode === undefined || typeof signatureNode.value !== 'string' || !digest) return fail('its signature lacks signed attributes or uses an unknown digest', certificatePem);
    const messageDigest = attrs.map(children).find((v) => oidOf(v[0]) === OID.messageDigest);
    const claimed = children(messageDigest?.[1])[0]?.value;
    if (typeof claimed !== 'string' || Buffer.from(claimed, 'binary').compare(createHash(digest).update(signed).digest()) !== 0) return fail('its content no longer matches the digest in its signature (the PDF was changed)', certificatePem);
    // The signature covers the attributes encoded as an explicit SET OF.
    const signedAttrs = Buffer.from(asn1.toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, attrs)).getBytes(), 'binary');
    if (!verify(digest, signedAttrs, cert.publicKey, Buffer.from(signatureNode.value, 'binary'))) return fail('its signature does not verify with its certificate', certificatePem);
    return { ok: true, problem: null, certificatePem };
  } catch (error) {
    return fail(`its signature cannot be read: ${error instanceof Error ? error.message : String(error)}`, certificatePem);
  }
}

/** A certificate's SHA-256 fingerprint as `openssl x509 -noout -fingerprint -sha256` prints it (AB:CD:...); null when the text is not a certificate. */
export function certificateFingerprint(pem: string): string | null {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return null;
  }
}
