/**
 * The certificates the HTTPS listener serves, one per host, picked by the
 * client's SNI name. A set is built whole from the caller's map (every PEM
 * checked by loading it, so a bad one is refused with its host named) and
 * swapped whole; contexts of unchanged PEMs are reused across swaps.
 * A key "*.example.com" covers one label below example.com.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import tls from "node:tls";
import { normalizeRouteHost } from "./route_table.ts";

export interface HostCertificate {
  /** The leaf first, then the intermediates. */
  readonly certPem: string;
  readonly keyPem: string;
}

export type CertificateMap =
  | ReadonlyMap<string, HostCertificate>
  | Readonly<Record<string, HostCertificate>>;

interface Loaded {
  readonly certificate: HostCertificate;
  readonly context: tls.SecureContext;
}

export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CertificateError";
  }
}

export class CertificateSet {
  readonly #byHost: ReadonlyMap<string, Loaded>;

  private constructor(byHost: ReadonlyMap<string, Loaded>) {
    this.#byHost = byHost;
  }

  static readonly EMPTY = new CertificateSet(new Map());

  /** Throws CertificateError naming every host whose certificate is unusable. */
  static build(
    certificates: CertificateMap,
    previous: CertificateSet = CertificateSet.EMPTY,
  ): CertificateSet {
    const entries = certificates instanceof Map
      ? [...certificates.entries()]
      : Object.entries(certificates as Record<string, HostCertificate>);
    const byHost = new Map<string, Loaded>();
    const problems: string[] = [];
    for (const [rawHost, certificate] of entries) {
      const wildcard = rawHost.startsWith("*.");
      const name = normalizeRouteHost(wildcard ? rawHost.slice(2) : rawHost);
      if (name === null) {
        problems.push(`${JSON.stringify(rawHost)} is not a DNS name`);
        continue;
      }
      const host = wildcard ? `*.${name}` : name;
      const old = previous.#byHost.get(host);
      if (
        old !== undefined && old.certificate.certPem === certificate.certPem &&
        old.certificate.keyPem === certificate.keyPem
      ) {
        byHost.set(host, old);
        continue;
      }
      const problem = checkPair(host, certificate);
      if (problem !== null) {
        problems.push(`the certificate of ${host} ${problem}`);
        continue;
      }
      const context = tls.createSecureContext({
        cert: certificate.certPem,
        key: certificate.keyPem,
      });
      byHost.set(host, { certificate, context });
    }
    if (problems.length > 0) {
      throw new CertificateError(
        `invalid certificates: ${problems.join("; ")}`,
      );
    }
    return new CertificateSet(byHost);
  }

  get size(): number {
    return this.#byHost.size;
  }

  /** Does this host (normalized, as route_table's requestHost gives) have one? */
  has(host: string): boolean {
    return this.#find(host) !== undefined;
  }

  /** The TLS context for an SNI name, or undefined. */
  context(serverName: string): tls.SecureContext | undefined {
    return this.#find(serverName.toLowerCase().replace(/\.$/, ""))?.context;
  }

  #find(host: string): Loaded | undefined {
    if (host === "") return undefined;
    const exact = this.#byHost.get(host);
    if (exact !== undefined) return exact;
    const dot = host.indexOf(".");
    return dot < 0 ? undefined : this.#byHost.get(`*${host.slice(dot)}`);
  }
}

/**
 * Why a pair cannot serve `host`, or null. Checked here because the
 * runtime's createSecureContext accepts anything and fails at handshakes.
 */
function checkPair(host: string, pair: HostCertificate): string | null {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pair.certPem);
  } catch (error) {
    return `is not a PEM X.509 certificate (${(error as Error).message})`;
  }
  let key;
  try {
    key = createPrivateKey(pair.keyPem);
  } catch (error) {
    return `has a key that is not a PEM private key (${
      (error as Error).message
    })`;
  }
  if (!certificate.checkPrivateKey(key)) {
    return "does not match its key";
  }
  // A wildcard's name is checked with one label in front of it.
  const name = host.startsWith("*.") ? `x${host.slice(1)}` : host;
  if (certificate.checkHost(name) === undefined) {
    return `does not name ${host}`;
  }
  return null;
}
