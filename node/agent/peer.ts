/**
 * The peer port's HTTP handler: Raft traffic (`/raft/…`), the secondary RPC
 * (`/rpc/v1/…`), and the node messages a secondary sends the leader
 * (`POST /peer/v1/register`, `POST /peer/v1/heartbeat`, with the cluster's
 * RPC token). `GET /peer/v1/bootstrap` gives a joining node the cluster CA
 * certificate (public; checked against the fingerprint in its join token)
 * and this primary's API URL.
 */
import type { RaftNode } from "../../raft/mod.ts";
import { bearerToken, readJsonBody } from "../api/mod.ts";
import { constantTimeEqual } from "../cluster_init/mod.ts";
import {
  type HeartbeatMessage,
  type LeaderDuties,
  type LogLevel,
  NodeMessageError,
} from "./leader.ts";
import type { LeaderChannel } from "./node_link.ts";

/** Largest node message accepted. */
export const PEER_MESSAGE_BYTES_MAX = 1024 * 1024;

export interface PeerOptions {
  readonly raft: RaftNode | null;
  readonly rpcHandler: ((request: Request) => Promise<Response>) | null;
  readonly leader: LeaderDuties | null;
  readonly rpcToken: string;
  readonly caCertPem: string;
  /** This node's API URL (primaries), for joining nodes. */
  readonly apiUrl: () => string | null;
  readonly log: (level: LogLevel, message: string) => void;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** Answers one request on the peer port. */
export async function handlePeerRequest(
  request: Request,
  options: PeerOptions,
): Promise<Response> {
  const path = new URL(request.url).pathname;
  try {
    if (path.startsWith("/raft/") && options.raft !== null) {
      const response = await options.raft.handle(request);
      if (response !== null) return response;
    }
    if (path.startsWith("/rpc/") && options.rpcHandler !== null) {
      return await options.rpcHandler(request);
    }
    if (path === "/peer/v1/bootstrap" && request.method === "GET") {
      const apiUrl = options.apiUrl();
      if (apiUrl === null) {
        return json(404, {
          code: "peer.not_primary",
          message: "Not a primary",
        });
      }
      return json(200, { caCertPem: options.caCertPem, apiUrl });
    }
    if (path === "/peer/v1/promote") {
      return await handlePromote(request, options);
    }
    if (path === "/peer/v1/register" || path === "/peer/v1/heartbeat") {
      return await handleNodeMessage(request, path, options);
    }
    return json(404, { code: "peer.not_found", message: "No such endpoint" });
  } catch (error) {
    options.log("error", `peer ${request.method} ${path}: ${error}`);
    return json(500, { code: "peer.internal", message: "Internal error" });
  }
}

/** A joined primary that caught up asks the leader to make it a voter. */
async function handlePromote(
  request: Request,
  options: PeerOptions,
): Promise<Response> {
  const token = bearerToken(request.headers.get("authorization"));
  if (!constantTimeEqual(token, options.rpcToken)) {
    return json(401, {
      code: "rpc.unauthenticated",
      message: "Missing or wrong cluster RPC token",
    });
  }
  const raft = options.raft;
  if (raft === null || raft.status.role !== "leader") {
    return json(503, { code: "raft.not_leader", message: "Not the leader" });
  }
  const body = await readJsonBody(request, { bytesMax: 4096 });
  const nodeId = (body as { nodeId?: unknown } | null)?.nodeId;
  if (typeof nodeId !== "string") {
    return json(400, { code: "peer.bad_request", message: "nodeId missing" });
  }
  try {
    await raft.proposeMembership({ type: "promote", id: nodeId });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return json(422, {
      code: typeof code === "string" ? code : "raft.error",
      message: String((error as Error).message),
    });
  }
  options.log("info", `promoted ${nodeId} to voter`);
  return new Response(null, { status: 204 });
}

async function handleNodeMessage(
  request: Request,
  path: string,
  options: PeerOptions,
): Promise<Response> {
  const token = bearerToken(request.headers.get("authorization"));
  if (!constantTimeEqual(token, options.rpcToken)) {
    return json(401, {
      code: "rpc.unauthenticated",
      message: "Missing or wrong cluster RPC token",
    });
  }
  if (request.method !== "POST") {
    return json(405, { code: "rpc.method_not_allowed", message: "Use POST" });
  }
  const leader = options.leader;
  if (leader === null || !leader.isLeader) {
    return json(503, {
      code: "raft.not_leader",
      message: "This node is not the leader",
      leader: options.raft?.status.leader ?? null,
    });
  }
  const body = await readJsonBody(request, {
    bytesMax: PEER_MESSAGE_BYTES_MAX,
  });
  try {
    if (path === "/peer/v1/register") {
      await leader.register(parseRegistration(body));
    } else {
      await leader.heartbeat(parseHeartbeat(body));
    }
    return new Response(null, { status: 204 });
  } catch (error) {
    if (error instanceof NodeMessageError) {
      const status = error.code === "peer.bad_request" ? 400 : 422;
      return json(status, { code: error.code, message: error.message });
    }
    throw error;
  }
}

/** Most alloc reports or running allocs in one heartbeat. */
export const HEARTBEAT_ALLOCS_MAX = 10_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function bad(what: string): NodeMessageError {
  return new NodeMessageError(
    "peer.bad_request",
    `Malformed node message: ${what}`,
  );
}

/**
 * A heartbeat from `unknown`. Report fields are checked again when the
 * `NodeHeartbeat` command is decoded; `running` is only ours.
 */
export function parseHeartbeat(value: unknown): HeartbeatMessage {
  if (!isRecord(value) || typeof value.nodeId !== "string") throw bad("nodeId");
  const { statuses, running } = value;
  if (!Array.isArray(statuses) || statuses.length > HEARTBEAT_ALLOCS_MAX) {
    throw bad("statuses");
  }
  if (
    !Array.isArray(running) || running.length > HEARTBEAT_ALLOCS_MAX ||
    !running.every((id) => typeof id === "string" && id.length <= 128)
  ) {
    throw bad("running");
  }
  for (const report of statuses) {
    if (
      !isRecord(report) || typeof report.allocId !== "string" ||
      typeof report.status !== "string"
    ) {
      throw bad("a status report");
    }
  }
  return {
    nodeId: value.nodeId,
    statuses: statuses as HeartbeatMessage["statuses"],
    running: running as string[],
  };
}

/** A registration from `unknown` (the FSM checks the values again). */
export function parseRegistration(
  value: unknown,
): Parameters<LeaderDuties["register"]>[0] {
  if (
    !isRecord(value) || typeof value.nodeId !== "string" ||
    typeof value.millId !== "string" || typeof value.name !== "string" ||
    typeof value.address !== "string" || typeof value.cpuMillis !== "number" ||
    typeof value.memoryBytes !== "number" || !isRecord(value.labels) ||
    !Object.values(value.labels).every((v) => typeof v === "string")
  ) {
    throw bad("registration");
  }
  return {
    nodeId: value.nodeId,
    millId: value.millId,
    name: value.name,
    address: value.address,
    cpuMillis: value.cpuMillis,
    memoryBytes: value.memoryBytes,
    labels: value.labels as Record<string, string>,
  };
}

/** How long a secondary waits for a primary's answer. */
export const REMOTE_CALL_TIMEOUT_MS = 10_000;

/**
 * The channel of a secondary-only node: the primaries' peer ports, tried in
 * turn (the last one that answered first) until the leader takes the message.
 */
export function remoteChannel(
  primaries: readonly string[],
  rpcToken: string,
): LeaderChannel {
  let preferred = 0;
  const send = async (path: string, body: unknown): Promise<void> => {
    let lastError = "no primary";
    for (let attempt = 0; attempt < primaries.length; attempt++) {
      const index = (preferred + attempt) % primaries.length;
      const peer = primaries[index];
      let response: Response;
      try {
        response = await fetch(`http://${peer}${path}`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${rpcToken}`,
            "content-type": "application/json",
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(REMOTE_CALL_TIMEOUT_MS),
        });
      } catch (error) {
        lastError = `${peer}: ${(error as Error).message}`;
        continue;
      }
      if (response.status === 204) {
        preferred = index;
        return;
      }
      const answer = await response.json().catch(() => ({}));
      const code = typeof answer?.code === "string"
        ? answer.code
        : "peer.error";
      const message = typeof answer?.message === "string"
        ? answer.message
        : `HTTP ${response.status}`;
      if (response.status === 503) {
        lastError = `${peer}: ${message}`;
        continue;
      }
      throw new NodeMessageError(code, message);
    }
    throw new NodeMessageError(
      "peer.no_leader",
      `No leader reachable (${lastError})`,
    );
  };
  return {
    register: (command) => send("/peer/v1/register", command),
    heartbeat: (message) => send("/peer/v1/heartbeat", message),
  };
}
