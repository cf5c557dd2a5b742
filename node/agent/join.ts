/**
 * Joining a node to a cluster (secondary role). The join token a user
 * passes is `<join token>.<CA fingerprint>`: the cluster's join token and
 * the SHA-256 (hex) of its CA certificate. The joining node:
 *
 * 1. fetches `GET http://<peer>/peer/v1/bootstrap` (plain HTTP: the CA is
 *    public) and refuses a CA whose fingerprint differs from the token's, so
 *    a node in the middle cannot slip in its own CA;
 * 2. calls `POST <api>/v1/join` over HTTPS trusting only that CA, with the
 *    join token: the grant carries the cluster id, the RPC token, the cluster
 *    key (secrets are decrypted on the node that starts a container) and the
 *    primaries' peer addresses;
 * 3. keeps the grant in its data dir (`joined.json`, `cluster.key`, 0600).
 */
import {
  constantTimeEqual,
  ensureDir,
  isTokenShaped,
  readCertificate,
  writeFileAtomic,
} from "../cluster_init/mod.ts";
import { CLUSTER_KEY_BYTES, CLUSTER_KEY_FILE } from "../secrets/mod.ts";

export const JOINED_FILE = "joined.json";
export const JOINED_FILE_FORMAT = 1;
/** Most primaries a grant lists. */
export const GRANT_PRIMARIES_MAX = 64;
const JOIN_TIMEOUT_MS = 15_000;

/** What the cluster gives a joining node. */
export interface JoinGrant {
  readonly clusterId: string;
  readonly rpcToken: string;
  /** Base64 of the 32-byte cluster key. */
  readonly clusterKey: string;
  /** Peer `host:port` of every primary. */
  readonly primaries: readonly string[];
}

/** What a joined (secondary-only) node keeps. */
export interface JoinedIdentity extends JoinGrant {
  readonly caCertPem: string;
}

export class JoinError extends Error {
  override name = "JoinError";
  constructor(readonly code: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The token users pass to `mill join`. */
export function formatJoinToken(
  joinToken: string,
  caFingerprint: string,
): string {
  return `${joinToken}.${caFingerprint}`;
}

export function parseJoinToken(
  text: string,
): { token: string; caFingerprint: string } {
  const [token, caFingerprint, ...rest] = text.trim().split(".");
  if (
    token === undefined || caFingerprint === undefined || rest.length > 0 ||
    !isTokenShaped(token) || !/^[0-9a-f]{64}$/.test(caFingerprint)
  ) {
    throw new JoinError(
      "join.invalid_token",
      'The join token is not "<token>.<CA fingerprint>"; copy it as `mill init` printed it',
    );
  }
  return { token, caFingerprint };
}

/** Parses a grant from `unknown` (the join endpoint's answer). */
export function parseJoinGrant(value: unknown): JoinGrant {
  const v = value as Record<string, unknown> | null;
  const primaries = v?.primaries;
  if (
    typeof v !== "object" || v === null ||
    typeof v.clusterId !== "string" || typeof v.rpcToken !== "string" ||
    !isTokenShaped(v.rpcToken) || typeof v.clusterKey !== "string" ||
    !Array.isArray(primaries) || primaries.length === 0 ||
    primaries.length > GRANT_PRIMARIES_MAX ||
    !primaries.every((p) => typeof p === "string" && /^[^\s/]+:\d+$/.test(p))
  ) {
    throw new JoinError(
      "join.bad_grant",
      "The cluster's join answer is malformed",
    );
  }
  let key: Uint8Array;
  try {
    key = Uint8Array.from(atob(v.clusterKey), (c) => c.charCodeAt(0));
  } catch (error) {
    throw new JoinError("join.bad_grant", "The cluster key is not base64", {
      cause: error,
    });
  }
  if (key.length !== CLUSTER_KEY_BYTES) {
    throw new JoinError("join.bad_grant", "The cluster key has the wrong size");
  }
  return {
    clusterId: v.clusterId,
    rpcToken: v.rpcToken,
    clusterKey: v.clusterKey,
    primaries: primaries as string[],
  };
}

/** Steps 1 and 2 for a secondary: the CA, checked, then the grant. */
export async function requestJoin(
  peerAddress: string,
  tokenText: string,
  node: { readonly name: string },
): Promise<JoinedIdentity> {
  const { caCertPem, answer } = await callJoin(peerAddress, tokenText, {
    name: node.name,
  });
  return { ...parseJoinGrant(answer), caCertPem };
}

/**
 * Fetches and checks the CA from `peerAddress`, then posts `body` to the
 * cluster's `/v1/join` over HTTPS trusting only that CA.
 */
export async function callJoin(
  peerAddress: string,
  tokenText: string,
  body: unknown,
): Promise<{ caCertPem: string; answer: unknown }> {
  const { token, caFingerprint } = parseJoinToken(tokenText);
  let bootstrap: { caCertPem?: unknown; apiUrl?: unknown };
  try {
    const response = await fetch(`http://${peerAddress}/peer/v1/bootstrap`, {
      signal: AbortSignal.timeout(JOIN_TIMEOUT_MS),
    });
    bootstrap = await response.json();
  } catch (error) {
    throw new JoinError(
      "join.unreachable",
      `Cannot reach a mill node's peer port at ${peerAddress}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  const { caCertPem, apiUrl } = bootstrap;
  if (typeof caCertPem !== "string" || typeof apiUrl !== "string") {
    throw new JoinError(
      "join.bad_bootstrap",
      `${peerAddress} is not a mill primary`,
    );
  }
  const ca = await readCertificate(caCertPem);
  if (!ca.isCa || !constantTimeEqual(ca.fingerprintSha256, caFingerprint)) {
    throw new JoinError(
      "join.ca_mismatch",
      `The CA offered by ${peerAddress} is not the one in the join token; refusing to join`,
    );
  }
  const client = Deno.createHttpClient({ caCerts: [caCertPem] });
  try {
    const response = await fetch(`${apiUrl}/v1/join`, {
      method: "POST",
      client,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(JOIN_TIMEOUT_MS),
    });
    const answer = await response.json();
    if (!response.ok) {
      throw new JoinError(
        typeof answer?.code === "string" ? answer.code : "join.refused",
        typeof answer?.message === "string"
          ? answer.message
          : `HTTP ${response.status}`,
      );
    }
    return { caCertPem, answer };
  } finally {
    client.close();
  }
}

/** Step 3: keeps the grant in the data dir. */
export async function saveJoinedIdentity(
  dataDir: string,
  joined: JoinedIdentity,
): Promise<void> {
  await ensureDir(dataDir, 0o700);
  const key = Uint8Array.from(atob(joined.clusterKey), (c) => c.charCodeAt(0));
  await writeFileAtomic(`${dataDir}/${CLUSTER_KEY_FILE}`, key, { mode: 0o600 });
  const { clusterKey: _key, ...rest } = joined;
  await writeFileAtomic(
    `${dataDir}/${JOINED_FILE}`,
    JSON.stringify({ format: JOINED_FILE_FORMAT, ...rest }, null, 2) + "\n",
    { mode: 0o600 },
  );
}

/** The joined identity of a data dir, or null when it has none. */
export async function loadJoinedIdentity(
  dataDir: string,
): Promise<Omit<JoinedIdentity, "clusterKey"> | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dataDir}/${JOINED_FILE}`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const value = JSON.parse(text);
  const grant = parseJoinGrant({ ...value, clusterKey: btoa("\0".repeat(32)) });
  if (typeof value.caCertPem !== "string") {
    throw new JoinError("join.bad_grant", `"${JOINED_FILE}" has no CA`);
  }
  const { clusterKey: _key, ...rest } = grant;
  return { ...rest, caCertPem: value.caCertPem };
}
