/**
 * X.509 for the cluster's own small PKI: a self-signed CA made at
 * `mill init` and the API server certificates it signs. The only module that
 * imports `@peculiar/x509` (and the `reflect-metadata` polyfill it needs);
 * the rest of mill sees PEM strings and plain objects.
 *
 * Why a package rather than the `openssl` CLI: the compiled binary must run
 * on a bare VM with only its scoped `--allow-run` list, and key material
 * should never pass through argv or temp files. WebCrypto makes the keys
 * (ECDSA P-256, SHA-256); the package only encodes the certificates.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

/** A certificate and its private key (PKCS#8), both PEM. */
export interface PemCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CertificateValidity {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

export interface ServerCertificateRequest extends CertificateValidity {
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/** What mill reads back from a certificate. */
export interface CertificateInfo {
  readonly subject: string;
  /** The subject's common name ("" when it has none). */
  readonly commonName: string;
  readonly issuer: string;
  readonly isCa: boolean;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** Lowercase hex SHA-256 of the DER encoding. */
  readonly fingerprintSha256: string;
}

/** A fresh self-signed CA that may sign end-entity certificates only. */
export async function createCertificateAuthority(
  commonName: string,
  validity: CertificateValidity,
): Promise<PemCertificate> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: distinguishedName(commonName),
    notBefore: new Date(validity.notBeforeMs),
    notAfter: new Date(validity.notAfterMs),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKeyPem(keys) };
}

/** A server (and client) certificate for `request`'s names, signed by `ca`. */
export async function issueServerCertificate(
  ca: PemCertificate,
  request: ServerCertificateRequest,
): Promise<PemCertificate> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ]);
  const certPem = await signCertificate(ca, keys.publicKey, request);
  return { certPem, keyPem: await exportKeyPem(keys) };
}

/** A node's own key pair: the private key stays on the node (PKCS#8 PEM); the public one (SPKI PEM) goes to the CA. */
export async function createNodeKey(): Promise<
  { readonly keyPem: string; readonly publicKeyPem: string }
> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ]);
  const spki = new Uint8Array(
    await crypto.subtle.exportKey("spki", keys.publicKey),
  );
  return {
    keyPem: await exportKeyPem(keys),
    publicKeyPem: pem("PUBLIC KEY", spki),
  };
}

/**
 * A node's certificate (server and client auth) for the public key it sent,
 * signed by `ca`: its common name is the node id, its names the hosts it is
 * reached at. Throws on a key that is not an ECDSA P-256 SPKI PEM.
 */
export async function issueNodeCertificate(
  ca: PemCertificate,
  publicKeyPem: string,
  request: ServerCertificateRequest,
): Promise<string> {
  const publicKey = await crypto.subtle.importKey(
    "spki",
    pemBody(publicKeyPem, "PUBLIC KEY"),
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["verify"],
  );
  return await signCertificate(ca, publicKey, request);
}

/** The public key (SPKI PEM) of a PKCS#8 private key PEM. */
export async function publicKeyOf(keyPem: string): Promise<string> {
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    pemBody(keyPem, "PRIVATE KEY"),
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign"],
  );
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const { d: _private, ...publicJwk } = jwk;
  const publicKey = await crypto.subtle.importKey(
    "jwk",
    { ...publicJwk, key_ops: ["verify"] },
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["verify"],
  );
  return pem(
    "PUBLIC KEY",
    new Uint8Array(await crypto.subtle.exportKey("spki", publicKey)),
  );
}

async function signCertificate(
  ca: PemCertificate,
  publicKey: CryptoKey,
  request: ServerCertificateRequest,
): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await crypto.subtle.importKey(
    "pkcs8",
    pemBody(ca.keyPem, "PRIVATE KEY"),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const names = [
    ...request.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...request.ipAddresses.map((value) => ({ type: "ip" as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: distinguishedName(request.commonName),
    issuer: caCert.subject,
    notBefore: new Date(request.notBeforeMs),
    notAfter: new Date(request.notAfterMs),
    publicKey,
    signingKey: caKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return cert.toString("pem");
}

/** Parses a PEM certificate; throws on anything else. */
export async function readCertificate(pem: string): Promise<CertificateInfo> {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const names = san?.names.toJSON() ?? [];
  const digest = await crypto.subtle.digest("SHA-256", cert.rawData);
  return {
    subject: cert.subject,
    commonName: cert.subjectName.getField("CN")[0] ?? "",
    issuer: cert.issuer,
    isCa: basic?.ca ?? false,
    dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
    notBeforeMs: cert.notBefore.getTime(),
    notAfterMs: cert.notAfter.getTime(),
    fingerprintSha256: new Uint8Array(digest).toHex(),
  };
}

/** True when `certPem` was signed by `caPem`'s key. */
export async function isSignedBy(
  certPem: string,
  caPem: string,
): Promise<boolean> {
  const cert = new x509.X509Certificate(certPem);
  const ca = new x509.X509Certificate(caPem);
  return await cert.verify({ publicKey: ca, signatureOnly: true });
}

function distinguishedName(commonName: string): string {
  // Escape the characters RFC 4514 reserves so a node name cannot inject RDNs.
  return `CN=${commonName.replace(/[\\,+"<>;=#]/g, (c) => `\\${c}`)}`;
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive
  bytes[0] = bytes[0] | 0x01; // and no leading zero byte to strip
  return bytes.toHex();
}

async function exportKeyPem(keys: CryptoKeyPair): Promise<string> {
  return pem(
    "PRIVATE KEY",
    new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  );
}

function pem(label: string, der: Uint8Array): string {
  const lines = der.toBase64().match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${
    lines.join("\n")
  }\n-----END ${label}-----\n`;
}

function pemBody(pem: string, label: string): Uint8Array<ArrayBuffer> {
  const match = new RegExp(
    `-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`,
  ).exec(pem);
  if (match?.[1] === undefined) {
    throw new Error(`Not a PEM ${label.toLowerCase()}`);
  }
  return Uint8Array.fromBase64(match[1].replace(/\s+/g, ""));
}
