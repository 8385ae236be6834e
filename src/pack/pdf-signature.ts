import { createHash, createPublicKey, verify } from 'node:crypto';
import { createRequire } from 'node:module';
import type Forge from 'node-forge';

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

  const forge = createRequire(import.meta.url)('node-forge') as typeof Forge;
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
