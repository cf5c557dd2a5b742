/**
 * The peer port's HTTP handler: Raft traffic (`/raft/…`), the secondary RPC
 * (`/rpc/v1/…`), and the node messages a secondary sends the leader
 * (`POST /peer/v1/register`, `POST /peer/v1/heartbeat`, with the cluster's
 * RPC token). `GET /peer/v1/ca` gives the cluster CA certificate (public) to
 * a joining node, which checks it against the fingerprint in its join token.
 */
import type { RaftNode } from "../../raft/node.ts";
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
    if (path === "/peer/v1/ca" && request.method === "GET") {
      return new Response(options.caCertPem, {
        headers: { "content-type": "application/x-pem-file" },
      });
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
      await leader.register(
        body as Parameters<LeaderDuties["register"]>[0],
      );
    } else {
      await leader.heartbeat(body as HeartbeatMessage);
    }
    return new Response(null, { status: 204 });
  } catch (error) {
    if (error instanceof NodeMessageError) {
      return json(422, { code: error.code, message: error.message });
    }
    throw error;
  }
}

/** The channel of a node that is itself a primary: straight to its leader duties. */
export function localChannel(leader: LeaderDuties): LeaderChannel {
  const requireLeader = () => {
    if (!leader.isLeader) {
      throw new NodeMessageError(
        "raft.not_leader",
        "This node is not the leader (multi-primary forwarding is not built yet)",
      );
    }
  };
  return {
    register(command) {
      requireLeader();
      return leader.register(command);
    },
    heartbeat(message) {
      requireLeader();
      return leader.heartbeat(message);
    },
  };
}
