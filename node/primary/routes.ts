/**
 * The leader's API endpoints on the node/api frame (see node/API.md):
 * status, nodes, allocs, service logs, secrets, and the deploy helper's
 * `POST /v1/deploy` and `POST /v1/tasks`, with `POST /v1/stop` and
 * `POST /v1/down` (stop_routes.ts) deploying less. A primary that is not
 * the leader forwards every admin request to the leader's API unchanged.
 */
import type { ClusterState, Command } from "../../raft/mod.ts";
import { RaftError, runningDeploy } from "../../raft/mod.ts";
import {
  addSecretRoutes,
  ApiError,
  forwardToLeader,
  type Handler,
  jsonResponse,
  Router,
  type SecretStore,
  SseHub,
} from "../api/mod.ts";
import type { CommitResult, Coordinator } from "../deploy/mod.ts";
import type { SecondaryRuntime } from "../rpc/mod.ts";
import { type ClusterKey, secretUsers } from "../secrets/mod.ts";
import { acmeSettingsHandler, certsHandler } from "./certs_routes.ts";
import { handleLogs } from "./logs.ts";
import { downHandler, stopServicesHandler } from "./stop_routes.ts";
import { allocsView, nodesView, statusView } from "./views.ts";

export interface PrimaryRoutesOptions {
  readonly clusterId: string;
  readonly nodeName: string;
  state(): ClusterState;
  raft(): { readonly leader: string | null; readonly term: number };
  isLeader(): boolean;
  /**
   * Resolves once this leader confirmed with a quorum that it still leads
   * and applied everything committed before the call (Raft's ReadIndex):
   * a read after it never misses an acknowledged write, on a new leader
   * still catching up or an old one already cut off.
   */
  readBarrier?(): Promise<unknown>;
  /** The leader's API base URL, when known. */
  leaderApiUrl(): string | null;
  commit(command: Command): Promise<CommitResult>;
  runtime(nodeId: string): SecondaryRuntime;
  /** The deploy coordinator; a leader still catching up is waited for a moment. */
  coordinator(): Promise<Coordinator | null>;
  readonly clusterKey: ClusterKey;
  readonly forwardClient: Deno.HttpClient;
  readonly nowMs: () => number;
  /**
   * The latest WireGuard handshake with each peer, by public key, as this
   * node sees it (empty without a mesh).
   */
  meshHandshakes?(): Promise<ReadonlyMap<string, number | null>>;
  /** `POST /v1/join` (join scope), answered by any primary. */
  readonly join?: Handler;
  /** `POST /v1/tokens/:kind/rotate` (admin), answered by the leader. */
  readonly rotateToken?: Handler;
  /** `DELETE /v1/nodes/:name` (admin), answered by the leader. */
  readonly removeNode?: Handler;
  /** `GET /v1/volumes`, `DELETE /v1/volumes/:name` (admin), answered by the leader. */
  readonly volumes?: { readonly list: Handler; readonly delete: Handler };
  /** `POST /v1/nodes/:name/drain` and `/drain/cancel` (admin), answered by the leader. */
  readonly drain?: { readonly start: Handler; readonly cancel: Handler };
}

/** The router of a primary's API. */
export function primaryRouter(options: PrimaryRoutesOptions): Router {
  const hub = new SseHub();
  const router = new Router();
  const lead = (handler: Handler): Handler => leaderOnly(options, handler);
  router
    .add(
      "GET",
      "/v1/status",
      lead(() => {
        const raft = options.raft();
        return jsonResponse(statusView(options.state(), {
          clusterId: options.clusterId,
          leaderId: raft.leader,
          term: raft.term,
        }));
      }),
    )
    .add(
      "GET",
      "/v1/nodes",
      lead(async () =>
        jsonResponse({
          nodes: nodesView(
            options.state(),
            options.raft().leader,
            await options.meshHandshakes?.() ?? new Map(),
          ),
        })
      ),
    )
    .add(
      "GET",
      "/v1/allocs",
      lead((_request, context) => {
        const workload = context.url.searchParams.get("service");
        const all = context.url.searchParams.get("all") === "1";
        return jsonResponse({
          allocs: allocsView(options.state(), {
            ...(workload === null ? {} : { workload }),
            all,
          }),
        });
      }),
    )
    .add(
      "GET",
      "/v1/services/:name/logs",
      lead((request, context) =>
        handleLogs(
          request,
          context.params.name ?? "",
          context.url,
          { state: options.state, runtime: options.runtime },
          hub,
        )
      ),
    )
    .add(
      "POST",
      "/v1/deploy",
      lead(async (request) =>
        (await coordinatorOf(options)).handleDeploy(request)
      ),
    )
    .add(
      "POST",
      "/v1/deploys/cancel",
      lead(async (request) =>
        (await coordinatorOf(options)).handleCancel(request)
      ),
    )
    .add(
      "POST",
      "/v1/tasks",
      lead(async (request) =>
        (await coordinatorOf(options)).handleTask(request)
      ),
    );
  const taking = {
    state: options.state,
    coordinator: () => coordinatorOf(options),
  };
  router
    .add("POST", "/v1/stop", lead(stopServicesHandler(taking)))
    .add("POST", "/v1/down", lead(downHandler(taking)));
  if (options.join !== undefined) {
    router.add("POST", "/v1/join", lead(options.join), { scope: "join" });
  }
  if (options.rotateToken !== undefined) {
    router.add("POST", "/v1/tokens/:kind/rotate", lead(options.rotateToken));
  }
  if (options.removeNode !== undefined) {
    router.add("DELETE", "/v1/nodes/:name", lead(options.removeNode));
  }
  if (options.volumes !== undefined) {
    router
      .add("GET", "/v1/volumes", lead(options.volumes.list))
      .add("DELETE", "/v1/volumes/:name", lead(options.volumes.delete));
  }
  if (options.drain !== undefined) {
    router
      .add("POST", "/v1/nodes/:name/drain", lead(options.drain.start))
      .add("POST", "/v1/nodes/:name/drain/cancel", lead(options.drain.cancel));
  }
  router
    .add("GET", "/v1/certs", lead(certsHandler(options)))
    .add("PUT", "/v1/acme", lead(acmeSettingsHandler(options)));
  // The secrets routes are added on a router of their own so that each
  // handler can be wrapped with leaderOnly.
  const secrets = addSecretRoutes(new Router(), {
    store: secretStore(options),
    key: options.clusterKey,
    nowMs: options.nowMs,
  });
  for (const [method, pattern] of SECRET_ROUTES) {
    router.add(
      method,
      pattern,
      lead((request, context) => {
        const match = secrets.match(method, context.url.pathname);
        if (match.kind !== "found") throw new Error("secret route mismatch");
        return match.route.handler(request, context);
      }),
      // The secret-name rule judges every name, not the router.
      { rawParams: true },
    );
  }
  return router;
}

const SECRET_ROUTES = [
  ["GET", "/v1/secrets"],
  ["PUT", "/v1/secrets/:name"],
  ["DELETE", "/v1/secrets/:name"],
] as const;

async function coordinatorOf(
  options: PrimaryRoutesOptions,
): Promise<Coordinator> {
  const coordinator = await options.coordinator();
  if (coordinator === null) {
    throw new ApiError(
      503,
      "deploy.unavailable",
      "The deploy coordinator is not running on the leader yet; retry in a few seconds",
      { headers: { "retry-after": "2" } },
    );
  }
  return coordinator;
}

/** Runs `handler` on the leader; a follower forwards the request there. */
function leaderOnly(options: PrimaryRoutesOptions, handler: Handler): Handler {
  return async (request, context) => {
    if (!options.isLeader()) {
      return await forwardToLeader(request, options.leaderApiUrl(), {
        nodeName: options.nodeName,
        client: options.forwardClient,
      });
    }
    try {
      if (request.method === "GET") await options.readBarrier?.();
      return await handler(request, context);
    } catch (error) {
      if (error instanceof RaftError) {
        throw new ApiError(
          503,
          "api.no_leader",
          "Leadership changed while handling the request; retry in a few seconds",
          { cause: error, headers: { "retry-after": "2" } },
        );
      }
      throw error;
    }
  };
}

function secretStore(options: PrimaryRoutesOptions): SecretStore {
  return {
    async set(name, encrypted, atMs) {
      const result = await options.commit({
        type: "SecretSet",
        name,
        ciphertext: encrypted.ciphertext,
        nonce: encrypted.nonce,
        atMs,
      });
      if (!result.ok) {
        throw new ApiError(
          422,
          result.rejection.code,
          result.rejection.message,
        );
      }
    },
    list() {
      return Promise.resolve(
        [...options.state().secrets.values()].map((s) => ({
          name: s.name,
          updatedAtMs: s.updatedAtMs,
        })),
      );
    },
    has(name) {
      return Promise.resolve(options.state().secrets.has(name));
    },
    users(name) {
      const state = options.state();
      const rollbackTo = runningDeploy(state)?.previousConfig ?? null;
      return Promise.resolve(
        secretUsers(name, [
          state.config,
          ...(rollbackTo === null ? [] : [rollbackTo]),
        ]),
      );
    },
    async delete(name) {
      if (!options.state().secrets.has(name)) return false;
      const result = await options.commit({
        type: "SecretDelete",
        name,
        atMs: options.nowMs(),
      });
      return result.ok;
    },
  };
}
