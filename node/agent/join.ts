/**
 * Joining a node to a cluster (secondary role). The join token a user
 * passes is `<join token>.<CA fingerprint>`: the cluster's join token and
 * the SHA-256 (hex) of its CA certificate. The joining node:
 *
 * 1. fetches `GET https://<peer>/peer/v1/bootstrap` without trusting the
 *    certificate it is shown (it has no CA yet) and refuses a CA whose
 *    fingerprint differs from the token's, so a node in the middle cannot
 *    slip in its own CA;
 * 2. makes its own key (it never leaves the node) and calls
 *    `POST <api>/v1/join` over HTTPS trusting only that CA, with the join
 *    token, its node id, its public key and the hosts it is reached at: the
 *    grant is the cluster id, the primaries' peer addresses and its node
 *    certificate, signed by the CA. Nothing else: no token, no cluster key
 *    (the leader decrypts secrets and sends a node only those of its allocs);
 * 3. keeps the grant in its data dir (`joined.json`, `node.crt`, 0600).
 */
import https from "node:https";
import {
  constantTimeEqual,
  ensureDir,
  isTokenShaped,
  readCertificate,
  writeFileAtomic,
} from "../cluster_init/mod.ts";
import { loadOrCreateNodeIdentity } from "./identity.ts";
import {
  loadOrCreateNodeKey,
  saveNodeCertificate,
} from "./node_certificate.ts";

export const JOINED_FILE = "joined.json";
export const JOINED_FILE_FORMAT = 2;
/** Most primaries a grant lists. */
export const GRANT_PRIMARIES_MAX = 64;
/** Most hosts a joining node asks its certificate to name. */
export const JOIN_HOSTS_MAX = 16;
const JOIN_TIMEOUT_MS = 15_000;
/** Largest bootstrap answer read (a CA certificate and a URL). */
const BOOTSTRAP_BYTES_MAX = 64 * 1024;
const PEER_ADDRESS = /^[^\s/]+:\d{1,5}$/;

/** What the cluster gives a joining secondary. */
export interface JoinGrant {
  readonly clusterId: string;
  /** Peer `host:port` of every primary. */
  readonly primaries: readonly string[];
  /** The node's certificate, for the public key it sent. */
  readonly nodeCertPem: string;
}

/** What a joined (secondary-only) node keeps. */
export interface JoinedIdentity {
  readonly clusterId: string;
  readonly primaries: readonly string[];
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

function isPrimaryList(value: unknown): value is string[] {
  return Array.isArray(value) && value.length > 0 &&
    value.length <= GRANT_PRIMARIES_MAX &&
    value.every((p) => typeof p === "string" && PEER_ADDRESS.test(p));
}

/** Parses a grant from `unknown` (the join endpoint's answer). */
export function parseJoinGrant(value: unknown): JoinGrant {
  const v = value as Record<string, unknown> | null;
  if (
    typeof v !== "object" || v === null ||
    typeof v.clusterId !== "string" || v.clusterId.length === 0 ||
    !isPrimaryList(v.primaries) || typeof v.nodeCertPem !== "string" ||
    !v.nodeCertPem.includes("BEGIN CERTIFICATE")
  ) {
    throw new JoinError(
      "join.bad_grant",
      "The cluster's join answer is malformed",
    );
  }
  return {
    clusterId: v.clusterId,
    primaries: v.primaries,
    nodeCertPem: v.nodeCertPem,
  };
}

/** The whole join of a secondary, on the joining node; returns the cluster id. */
export async function joinAsSecondary(
  dataDir: string,
  peerAddress: string,
  tokenText: string,
  node: {
    readonly name: string;
    /** The hosts other nodes reach this one on (its certificate's names). */
    readonly hosts: readonly string[];
  },
): Promise<string> {
  await ensureDir(dataDir, 0o700);
  const identity = await loadOrCreateNodeIdentity(dataDir, node.name);
  const key = await loadOrCreateNodeKey(dataDir);
  const { caCertPem, answer } = await callJoin(peerAddress, tokenText, {
    name: identity.name,
    nodeId: identity.nodeId,
    publicKeyPem: key.publicKeyPem,
    hosts: node.hosts,
  });
  const grant = parseJoinGrant(answer);
  const cert = await readCertificate(grant.nodeCertPem);
  if (cert.commonName !== identity.nodeId) {
    throw new JoinError(
      "join.bad_grant",
      "The certificate the cluster issued names another node",
    );
  }
  await saveNodeCertificate(dataDir, grant.nodeCertPem);
  await writeFileAtomic(
    `${dataDir}/${JOINED_FILE}`,
    JSON.stringify(
      {
        format: JOINED_FILE_FORMAT,
        clusterId: grant.clusterId,
        primaries: grant.primaries,
        caCertPem,
      },
      null,
      2,
    ) + "\n",
    { mode: 0o600 },
  );
  return grant.clusterId;
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
  const { caCertPem, apiUrl } = await fetchBootstrap(peerAddress);
  const ca = await readCertificate(caCertPem).catch((error) => {
    throw new JoinError(
      "join.bad_bootstrap",
      `${peerAddress} offered no readable CA certificate`,
      { cause: error },
    );
  });
  if (!ca.isCa || !constantTimeEqual(ca.fingerprintSha256, caFingerprint)) {
    throw new JoinError(
      "join.ca_mismatch",
      `The CA offered by ${peerAddress} is not the one in the join token; refusing to join`,
    );
  }
  const client = Deno.createHttpClient({ caCerts: [caCertPem] });
  try {
    // A leader that is busy changing the membership (another primary's
    // promotion) or just changed answers 503: ask again a few times.
    for (let attempt = 1;; attempt++) {
      const result = await postJoin(client, apiUrl, token, body);
      if (result.status !== 503) return { caCertPem, answer: result.answer };
      if (attempt >= JOIN_BUSY_RETRIES) {
        const answer = result.answer as { code?: unknown; message?: unknown };
        throw new JoinError(
          typeof answer?.code === "string" ? answer.code : "join.refused",
          typeof answer?.message === "string" ? answer.message : "HTTP 503",
        );
      }
      await new Promise((resolve) => setTimeout(resolve, JOIN_BUSY_WAIT_MS));
    }
  } finally {
    client.close();
  }
}

/** Tries of a join the leader answers 503, and the wait between them. */
const JOIN_BUSY_RETRIES = 5;
const JOIN_BUSY_WAIT_MS = 1_000;

/** One `POST /v1/join`: the answer on success, a JoinError otherwise (503 returned). */
async function postJoin(
  client: Deno.HttpClient,
  apiUrl: string,
  token: string,
  body: unknown,
): Promise<{ status: number; answer: unknown }> {
  {
    let response: Response;
    try {
      response = await fetch(`${apiUrl}/v1/join`, {
        method: "POST",
        client,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(JOIN_TIMEOUT_MS),
      });
    } catch (error) {
      throw new JoinError(
        "join.unreachable",
        `Cannot reach the cluster's API at ${apiUrl}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    const answer = await response.json().catch(() => null);
    if (response.status === 503) return { status: 503, answer };
    if (!response.ok) {
      throw new JoinError(
        typeof answer?.code === "string" ? answer.code : "join.refused",
        typeof answer?.message === "string"
          ? answer.message
          : `HTTP ${response.status}`,
      );
    }
    return { status: response.status, answer };
  }
}

/**
 * `GET /peer/v1/bootstrap` on a primary's peer port. Its certificate cannot
 * be checked yet (the CA is what we ask for): the answer is trusted only
 * once its CA matches the fingerprint in the join token.
 */
function fetchBootstrap(
  peerAddress: string,
): Promise<{ caCertPem: string; apiUrl: string }> {
  const unreachable = (error: unknown) =>
    new JoinError(
      "join.unreachable",
      `Cannot reach a mill node's peer port at ${peerAddress}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  if (!PEER_ADDRESS.test(peerAddress)) {
    return Promise.reject(
      new JoinError(
        "join.bad_address",
        `"${peerAddress}" is not a peer address (host:port)`,
      ),
    );
  }
  const colon = peerAddress.lastIndexOf(":");
  const host = peerAddress.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(peerAddress.slice(colon + 1));
  return new Promise((resolve, reject) => {
    const request = https.get({
      host,
      port,
      path: "/peer/v1/bootstrap",
      rejectUnauthorized: false,
      // No CA list of its own would make node:tls load the system's roots,
      // which needs a sys permission the binary's scoped set cannot grant.
      ca: [],
      timeout: JOIN_TIMEOUT_MS,
    }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
        if (text.length > BOOTSTRAP_BYTES_MAX) {
          request.destroy(new Error("the answer is too large"));
        }
      });
      response.on("end", () => {
        let value: { caCertPem?: unknown; apiUrl?: unknown } | null = null;
        try {
          value = JSON.parse(text);
        } catch {
          value = null;
        }
        if (
          response.statusCode !== 200 || typeof value?.caCertPem !== "string" ||
          typeof value.apiUrl !== "string" ||
          !value.apiUrl.startsWith("https://")
        ) {
          reject(
            new JoinError(
              "join.bad_bootstrap",
              `${peerAddress} is not a mill primary`,
            ),
          );
          return;
        }
        resolve({ caCertPem: value.caCertPem, apiUrl: value.apiUrl });
      });
      response.on("error", (error) => reject(unreachable(error)));
    });
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", (error) => reject(unreachable(error)));
  });
}

/** The joined identity of a data dir, or null when it has none. */
export async function loadJoinedIdentity(
  dataDir: string,
): Promise<JoinedIdentity | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dataDir}/${JOINED_FILE}`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  let value: Record<string, unknown> | null = null;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new JoinError("join.bad_grant", `"${JOINED_FILE}" is not JSON`, {
      cause: error,
    });
  }
  if (value?.format !== JOINED_FILE_FORMAT) {
    throw new JoinError(
      "join.old_grant",
      `"${JOINED_FILE}" is from an older mill (before node certificates); join the cluster again with "mill join"`,
    );
  }
  if (
    typeof value.clusterId !== "string" || !isPrimaryList(value.primaries) ||
    typeof value.caCertPem !== "string"
  ) {
    throw new JoinError("join.bad_grant", `"${JOINED_FILE}" is malformed`);
  }
  return {
    clusterId: value.clusterId,
    primaries: value.primaries,
    caCertPem: value.caCertPem,
  };
}
