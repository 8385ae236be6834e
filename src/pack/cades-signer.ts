import { createHash, createPrivateKey, sign } from 'node:crypto';
import { createRequire } from 'node:module';
import type Forge from 'node-forge';

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
}

function forgeLib(): typeof Forge {
  return createRequire(import.meta.url)('node-forge') as typeof Forge;
}

/** The RSA key and its certificate from a PKCS#12 file; throws when either is missing or not RSA. */
export function openP12(p12: Buffer, passphrase: string): CadesIdentity {
  const forge = forgeLib();
  const parsed = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(p12.toString('binary'))), passphrase);
  const keyBag = [...(parsed.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[forge.pki.oids.pkcs8ShroudedKeyBag!] ?? []), ...(parsed.getBags({ bagType: forge.pki.oids.keyBag! })[forge.pki.oids.keyBag!] ?? [])].find((b) => b.key);
  if (!keyBag?.key) throw new Error('the PKCS#12 file holds no RSA private key');
  const key = keyBag.key as Forge.pki.rsa.PrivateKey;
  const certificate = (parsed.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [])
    .map((b) => b.cert)
    .find((c): c is Forge.pki.Certificate => c !== null && c !== undefined && (c.publicKey as Forge.pki.rsa.PublicKey).n?.equals(key.n) === true);
  if (!certificate) throw new Error('the PKCS#12 file holds no certificate for its private key');
  return { privateKeyPem: forge.pki.privateKeyToPem(key), certificate };
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
