/**
 * A node's own TLS identity on the peer port: `node.key` (made on the node,
 * never sent anywhere) and `node.crt`, signed by the cluster CA, whose
 * common name is the node id and whose names are the hosts the node is
 * reached at. A primary holds the CA and issues its own at start (again
 * when its id, its hosts or the CA no longer match, or it nears expiry); a
 * secondary gets its certificate from the leader when it joins, for the
 * public key it sent.
 */
import {
  certificateNames,
  createNodeKey,
  isSignedBy,
  issueNodeCertificate,
  type PemCertificate,
  publicKeyOf,
  readCertificate,
  writeFileAtomic,
} from "../cluster_init/mod.ts";

export const NODE_CERT_FILE = "node.crt";
export const NODE_KEY_FILE = "node.key";
/** Node certificates last a year; a primary renews its own a month before. */
export const NODE_CERT_VALIDITY_MS = 365 * 24 * 60 * 60_000;
const RENEW_BEFORE_MS = 30 * 24 * 60 * 60_000;
const BACKDATE_MS = 60 * 60_000;

export interface NodeTls {
  readonly certPem: string;
  readonly keyPem: string;
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** The node's key, made (0600) on first use; returns its public key too. */
export async function loadOrCreateNodeKey(
  dataDir: string,
): Promise<{ readonly keyPem: string; readonly publicKeyPem: string }> {
  const path = `${dataDir}/${NODE_KEY_FILE}`;
  const existing = await readOptional(path);
  if (existing !== null) {
    return { keyPem: existing, publicKeyPem: await publicKeyOf(existing) };
  }
  const made = await createNodeKey();
  await writeFileAtomic(path, made.keyPem, { mode: 0o600 });
  return made;
}

/** Keeps the certificate the CA signed for this node. */
export async function saveNodeCertificate(
  dataDir: string,
  certPem: string,
): Promise<void> {
  await writeFileAtomic(`${dataDir}/${NODE_CERT_FILE}`, certPem, {
    mode: 0o600,
  });
}

/** Why `certPem` does not serve as node `nodeId`'s certificate for `hosts`, or null when it does. */
export async function nodeCertificateProblem(
  certPem: string,
  expected: {
    readonly nodeId: string;
    readonly caCertPem: string;
    readonly hosts: readonly string[];
    readonly nowMs: number;
    /** How long before expiry it stops serving (a primary renews early). */
    readonly marginMs: number;
  },
): Promise<string | null> {
  let info;
  try {
    info = await readCertificate(certPem);
  } catch (error) {
    return `it is not a PEM certificate (${(error as Error).message})`;
  }
  if (info.commonName !== expected.nodeId) {
    return `it names "${info.commonName}", not this node ("${expected.nodeId}")`;
  }
  if (!await isSignedBy(certPem, expected.caCertPem)) {
    return "the cluster CA did not sign it";
  }
  const names = new Set([...info.dnsNames, ...info.ipAddresses]);
  const missing = expected.hosts.filter((host) => !names.has(host));
  if (missing.length > 0) return `it does not name ${missing.join(", ")}`;
  if (info.notAfterMs - expected.nowMs <= expected.marginMs) {
    return expected.marginMs === 0 ? "it has expired" : "it expires soon";
  }
  return null;
}

/** Issues the certificate of node `nodeId` at `hosts` for its public key. */
export function issueCertificateFor(
  ca: PemCertificate,
  request: {
    readonly nodeId: string;
    readonly publicKeyPem: string;
    readonly hosts: readonly string[];
    readonly nowMs: number;
  },
): Promise<string> {
  return issueNodeCertificate(ca, request.publicKeyPem, {
    commonName: request.nodeId,
    ...certificateNames(request.hosts),
    notBeforeMs: request.nowMs - BACKDATE_MS,
    notAfterMs: request.nowMs + NODE_CERT_VALIDITY_MS,
  });
}

/**
 * A primary's node certificate: the one in the data dir when it still
 * serves, else a fresh one it signs with the cluster CA.
 */
export async function ensurePrimaryNodeTls(
  dataDir: string,
  request: {
    readonly nodeId: string;
    readonly ca: PemCertificate;
    readonly hosts: readonly string[];
    readonly nowMs: number;
  },
): Promise<NodeTls> {
  const key = await loadOrCreateNodeKey(dataDir);
  const existing = await readOptional(`${dataDir}/${NODE_CERT_FILE}`);
  if (
    existing !== null &&
    await nodeCertificateProblem(existing, {
        nodeId: request.nodeId,
        caCertPem: request.ca.certPem,
        hosts: request.hosts,
        nowMs: request.nowMs,
        marginMs: RENEW_BEFORE_MS,
      }) === null
  ) {
    return { certPem: existing, keyPem: key.keyPem };
  }
  const certPem = await issueCertificateFor(request.ca, {
    nodeId: request.nodeId,
    publicKeyPem: key.publicKeyPem,
    hosts: request.hosts,
    nowMs: request.nowMs,
  });
  await saveNodeCertificate(dataDir, certPem);
  return { certPem, keyPem: key.keyPem };
}

/**
 * A secondary's node certificate, as its join left it; refuses (naming
 * what to do) when it is missing or no longer fits.
 */
export async function loadJoinedNodeTls(
  dataDir: string,
  expected: {
    readonly nodeId: string;
    readonly caCertPem: string;
    readonly hosts: readonly string[];
    readonly nowMs: number;
  },
): Promise<NodeTls> {
  const certPem = await readOptional(`${dataDir}/${NODE_CERT_FILE}`);
  const keyPem = await readOptional(`${dataDir}/${NODE_KEY_FILE}`);
  if (certPem === null || keyPem === null) {
    throw new Error(
      `Data dir "${dataDir}" has no node certificate; join the cluster again with "mill join"`,
    );
  }
  const problem = await nodeCertificateProblem(certPem, {
    ...expected,
    marginMs: 0,
  });
  if (problem !== null) {
    throw new Error(
      `The node certificate in "${dataDir}" does not fit: ${problem}; join the cluster again with "mill join"`,
    );
  }
  return { certPem, keyPem };
}
