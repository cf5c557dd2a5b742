/**
 * What a PEM chain says about itself: the leaf's validity, issuer and names,
 * and whether a private key belongs to it. Through node:crypto's
 * X509Certificate (the project's x509 adapter lives in node/, which proxy/
 * may not import).
 */

import { createPrivateKey, X509Certificate } from "node:crypto";

export interface CertificateInfo {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** The issuer's common name, or its whole DN when it has none. */
  readonly issuer: string;
  /** DNS names of the subjectAltName extension, lower case. */
  readonly names: readonly string[];
  readonly serialNumber: string;
  /** Certificates in the chain, the leaf included. */
  readonly chainLength: number;
}

const PEM_BLOCK =
  /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g;

/** The PEM certificates of a chain, in order (leaf first). */
export function splitPemChain(chainPem: string): string[] {
  return [...chainPem.matchAll(PEM_BLOCK)].map((m) => `${m[0]}\n`);
}

function commonNameOf(dn: string): string {
  // node:crypto prints a DN one attribute a line: "C=US\nO=...\nCN=...".
  for (const line of dn.split("\n")) {
    if (line.startsWith("CN=")) return line.slice(3);
  }
  return dn.replaceAll("\n", ", ");
}

function dnsNamesOf(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined) return [];
  return subjectAltName.split(", ").flatMap((entry) =>
    entry.startsWith("DNS:") ? [entry.slice(4).toLowerCase()] : []
  );
}

function leafOf(chainPem: string): { leaf: X509Certificate; length: number } {
  const blocks = splitPemChain(chainPem);
  const first = blocks[0];
  if (first === undefined) {
    throw new Error("no PEM certificate in the chain");
  }
  return { leaf: new X509Certificate(first), length: blocks.length };
}

/** Parses the leaf of a PEM chain; throws with the reason on anything else. */
export function inspectCertificate(chainPem: string): CertificateInfo {
  const { leaf, length } = leafOf(chainPem);
  return {
    notBeforeMs: Date.parse(leaf.validFrom),
    notAfterMs: Date.parse(leaf.validTo),
    issuer: commonNameOf(leaf.issuer),
    names: dnsNamesOf(leaf.subjectAltName),
    serialNumber: leaf.serialNumber,
    chainLength: length,
  };
}

/** Whether `keyPem` is the private key of the chain's leaf. */
export function keyMatchesCertificate(
  chainPem: string,
  keyPem: string,
): boolean {
  const { leaf } = leafOf(chainPem);
  try {
    return leaf.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/**
 * Whether each certificate of the chain is signed by the next, and the last
 * by `rootPem` (or is it). Dates are not checked here.
 */
export function chainLeadsTo(chainPem: string, rootPem: string): boolean {
  const chain = splitPemChain(chainPem).map((pem) => new X509Certificate(pem));
  const root = new X509Certificate(rootPem);
  if (chain.length === 0) return false;
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i]!, parent = chain[i + 1]!;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      return false;
    }
  }
  const last = chain[chain.length - 1]!;
  if (last.fingerprint256 === root.fingerprint256) return true;
  return last.checkIssued(root) && last.verify(root.publicKey);
}
