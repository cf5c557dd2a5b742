/**
 * Joining as a primary: the leader adds the node to the Raft group as a
 * learner and hands it the cluster's identity (tokens, CA, a fresh API
 * certificate for the node's addresses, the cluster key); the node writes
 * it as `mill init` would, starts Raft with an empty membership (so it never
 * campaigns before it is a member), catches up from the leader, then asks
 * to be promoted to voter (`POST /peer/v1/promote`).
 */
import type { RaftNode } from "../../raft/mod.ts";
import {
  certificateNames,
  type ClusterIdentity,
  DATA_DIR_FILES,
  ensureDir,
  issueServerCertificate,
  readCertificate,
  writeFileAtomic,
} from "../cluster_init/mod.ts";
import { loadOrCreateNodeIdentity } from "./identity.ts";
import { callJoin, JoinError } from "./join.ts";

/** Marker of a joined primary whose Raft state starts from the leader. */
export const RAFT_JOIN_FILE = "raft-join.json";
const CERT_VALIDITY_MS = 10 * 365 * 24 * 60 * 60_000;
const CERT_BACKDATE_MS = 60 * 60_000;

/** What a joining primary asks for. */
export interface PrimaryJoinRequest {
  readonly name: string;
  readonly nodeId: string;
  /** Its peer `host:port`. */
  readonly peer: string;
  /** Addresses its API is reached at (IPs, DNS names). */
  readonly apiAddresses: readonly string[];
}

/** The identity a joining primary gets. */
export interface PrimaryGrant {
  readonly clusterId: string;
  readonly createdAtMs: number;
  readonly apiPort: number;
  readonly adminToken: string;
  readonly joinToken: string;
  readonly rpcToken: string;
  readonly caCertPem: string;
  readonly caKeyPem: string;
  readonly apiCertPem: string;
  readonly apiKeyPem: string;
  /** Base64 of the cluster key. */
  readonly clusterKey: string;
  /** Raft member id → peer base URL, the new node included. */
  readonly members: Readonly<Record<string, string>>;
  /** The leader's commit index when the node was added. */
  readonly commitIndex: number;
}

export function parsePrimaryJoinRequest(value: unknown): PrimaryJoinRequest {
  const v = value as Record<string, unknown> | null;
  if (
    typeof v !== "object" || v === null || typeof v.name !== "string" ||
    typeof v.nodeId !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(v.nodeId) ||
    typeof v.peer !== "string" || !/^[^\s/]+:\d{1,5}$/.test(v.peer) ||
    !Array.isArray(v.apiAddresses) || v.apiAddresses.length > 16 ||
    !v.apiAddresses.every((a) =>
      typeof a === "string" && /^[A-Za-z0-9.:-]{1,253}$/.test(a)
    )
  ) {
    throw new JoinError("join.bad_request", "Malformed primary join request");
  }
  return {
    name: v.name,
    nodeId: v.nodeId,
    peer: v.peer,
    apiAddresses: v.apiAddresses as string[],
  };
}

/** On the leader: adds the node as a learner and builds its grant. */
export async function admitPrimary(
  request: PrimaryJoinRequest,
  context: {
    readonly raft: RaftNode;
    readonly cluster: ClusterIdentity;
    readonly clusterKeyBase64: string;
    readonly members: Readonly<Record<string, string>>;
    readonly nowMs: number;
  },
): Promise<PrimaryGrant> {
  const api = await issueServerCertificate(
    { certPem: context.cluster.caCertPem, keyPem: context.cluster.caKeyPem },
    {
      commonName: request.name,
      ...certificateNames(request.apiAddresses),
      notBeforeMs: context.nowMs - CERT_BACKDATE_MS,
      notAfterMs: context.nowMs + CERT_VALIDITY_MS,
    },
  );
  const peerUrl = `https://${request.peer}`;
  context.raft.setPeer(request.nodeId, peerUrl);
  const known = context.raft.status;
  await context.raft.proposeMembership({
    type: "add-learner",
    id: request.nodeId,
  })
    .catch((error) => {
      // Already a learner (a retried join): carry on.
      if ((error as { code?: string }).code !== "raft.membership_invalid") {
        throw error;
      }
    });
  return {
    clusterId: context.cluster.clusterId,
    createdAtMs: context.cluster.createdAtMs,
    apiPort: context.cluster.apiPort,
    adminToken: context.cluster.adminToken,
    joinToken: context.cluster.joinToken,
    rpcToken: context.cluster.rpcToken,
    caCertPem: context.cluster.caCertPem,
    caKeyPem: context.cluster.caKeyPem,
    apiCertPem: api.certPem,
    apiKeyPem: api.keyPem,
    clusterKey: context.clusterKeyBase64,
    members: { ...context.members, [request.nodeId]: peerUrl },
    commitIndex: known.commit,
  };
}

/** On the joining node: writes the identity as `mill init` does, plus the join marker. */
export async function saveJoinedPrimary(
  dataDir: string,
  nodeName: string,
  grant: PrimaryGrant,
): Promise<void> {
  await ensureDir(dataDir, 0o700);
  const f = DATA_DIR_FILES;
  const key = Uint8Array.from(atob(grant.clusterKey), (c) => c.charCodeAt(0));
  const files: [{ name: string; mode: number }, Uint8Array | string][] = [
    [f.clusterKey, key],
    [f.adminToken, grant.adminToken + "\n"],
    [f.joinToken, grant.joinToken + "\n"],
    [f.rpcToken, grant.rpcToken + "\n"],
    [f.caKey, grant.caKeyPem],
    [f.caCert, grant.caCertPem],
    [f.apiKey, grant.apiKeyPem],
    [f.apiCert, grant.apiCertPem],
  ];
  for (const [file, data] of files) {
    await writeFileAtomic(`${dataDir}/${file.name}`, data, { mode: file.mode });
  }
  await writeFileAtomic(
    `${dataDir}/${RAFT_JOIN_FILE}`,
    JSON.stringify({ members: grant.members, commitIndex: grant.commitIndex }) +
      "\n",
    { mode: 0o600 },
  );
  const ca = await readCertificate(grant.caCertPem);
  await writeFileAtomic(
    `${dataDir}/${f.cluster.name}`,
    JSON.stringify(
      {
        format: 1,
        clusterId: grant.clusterId,
        createdAt: new Date(grant.createdAtMs).toISOString(),
        nodeName,
        apiPort: grant.apiPort,
        caFingerprintSha256: ca.fingerprintSha256,
      },
      null,
      2,
    ) + "\n",
    { mode: f.cluster.mode },
  );
}

/** The join marker of a joined primary, or null. */
export async function loadRaftJoin(
  dataDir: string,
): Promise<{ members: Record<string, string>; commitIndex: number } | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dataDir}/${RAFT_JOIN_FILE}`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const value = JSON.parse(text);
  if (
    typeof value?.members !== "object" || typeof value?.commitIndex !== "number"
  ) {
    throw new JoinError("join.bad_grant", `"${RAFT_JOIN_FILE}" is malformed`);
  }
  return value;
}

/** Parses a primary grant from `unknown` (the join endpoint's answer). */
export function parsePrimaryGrant(value: unknown): PrimaryGrant {
  const v = value as Record<string, unknown> | null;
  const strings = [
    "clusterId",
    "adminToken",
    "joinToken",
    "rpcToken",
    "caCertPem",
    "caKeyPem",
    "apiCertPem",
    "apiKeyPem",
    "clusterKey",
  ];
  if (
    typeof v !== "object" || v === null ||
    !strings.every((k) => typeof v[k] === "string") ||
    typeof v.createdAtMs !== "number" || typeof v.apiPort !== "number" ||
    typeof v.commitIndex !== "number" || typeof v.members !== "object" ||
    v.members === null ||
    !Object.values(v.members).every((u) => typeof u === "string")
  ) {
    throw new JoinError(
      "join.bad_grant",
      "The cluster's primary join answer is malformed",
    );
  }
  return v as unknown as PrimaryGrant;
}

/** The whole join of a primary, on the joining node; returns the cluster id. */
export async function joinAsPrimary(
  dataDir: string,
  peerAddress: string,
  tokenText: string,
  node: {
    readonly name: string;
    /** This node's own peer `host:port` (a fixed port). */
    readonly peer: string;
    readonly apiAddresses: readonly string[];
  },
): Promise<string> {
  const identity = await loadOrCreateNodeIdentity(dataDir, node.name);
  const { answer } = await callJoin(peerAddress, tokenText, {
    role: "primary",
    name: identity.name,
    nodeId: identity.nodeId,
    peer: node.peer,
    apiAddresses: node.apiAddresses,
  });
  const grant = parsePrimaryGrant(answer);
  await saveJoinedPrimary(dataDir, identity.name, grant);
  return grant.clusterId;
}
