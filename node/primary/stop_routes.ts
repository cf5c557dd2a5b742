/**
 * Taking services down by deploying less (see node/API.md):
 *
 * - `POST /v1/stop` `{ "services": [NAME, …] }`: deploys the current config
 *   without those services (tasks and the other services as they are);
 * - `POST /v1/down`: deploys the empty config: every service stops and the
 *   tasks' definitions go.
 *
 * Both answer like `POST /v1/deploy`: JSON errors before anything starts
 * (404 `service.not_found`, 409 `deploy.in_progress`, 422 …), else the same
 * server-sent events (`start` lists the `removed` services, then `phase`,
 * `routes`, `done` or `failed`). The config is read and the deploy begun in
 * one step on the leader, so a deploy that ended just before is not undone
 * from a stale copy; the next `mill deploy -f` brings the services back.
 */
import type { ClusterConfig } from "../../config/types.ts";
import { type ClusterState, EMPTY_CONFIG } from "../../raft/mod.ts";
import { ApiError, type Handler, readJsonBody } from "../api/mod.ts";
import { type Coordinator, deployResponse } from "../deploy/mod.ts";

/** Most names one `POST /v1/stop` takes. */
export const STOP_SERVICES_MAX = 256;

export interface StopRoutesOptions {
  state(): ClusterState;
  /** The leader's coordinator (503 `deploy.unavailable` when it has none yet). */
  coordinator(): Promise<Coordinator>;
}

/** `POST /v1/stop`. */
export function stopServicesHandler(options: StopRoutesOptions): Handler {
  return async (request) => {
    const names = parseServiceNames(
      await readJsonBody(request, {
        bytesMax: 64 * 1024,
      }),
    );
    const coordinator = await options.coordinator();
    const config = options.state().config;
    const unknown = names.filter((n) => !Object.hasOwn(config.services, n));
    if (unknown.length > 0) throw notDeployed(unknown, config);
    const services = Object.fromEntries(
      Object.entries(config.services).filter(([n]) => !names.includes(n)),
    );
    return deployResponse(
      coordinator,
      options.state(),
      { ...config, services },
      `stopped ${names.map((n) => `"${n}"`).join(", ")} (mill stop)`,
    );
  };
}

/** `POST /v1/down`. */
export function downHandler(options: StopRoutesOptions): Handler {
  return async (request) => {
    await request.body?.cancel();
    const coordinator = await options.coordinator();
    return deployResponse(
      coordinator,
      options.state(),
      EMPTY_CONFIG,
      "every service stopped (mill down)",
    );
  };
}

function parseServiceNames(body: unknown): string[] {
  const services = typeof body === "object" && body !== null &&
      "services" in body
    ? body.services
    : undefined;
  if (
    !Array.isArray(services) || services.length === 0 ||
    services.length > STOP_SERVICES_MAX ||
    !services.every((s) => typeof s === "string" && s.length > 0)
  ) {
    throw new ApiError(
      400,
      "api.invalid_json",
      `The body must be {"services": [NAME, …]} with 1 to ${STOP_SERVICES_MAX} service names`,
    );
  }
  return [...new Set(services as string[])];
}

function notDeployed(unknown: readonly string[], config: ClusterConfig) {
  const described = unknown.map((n) =>
    Object.hasOwn(config.tasks, n)
      ? `"${n}" is a task, not a service (tasks run only when spawned)`
      : `no service "${n}"`
  ).join("; ");
  const deployed = Object.keys(config.services).sort();
  return new ApiError(
    404,
    "service.not_found",
    `Cannot stop: ${described} in the deployed config; ${
      deployed.length === 0
        ? "no service is deployed"
        : `its services are ${deployed.map((n) => `"${n}"`).join(", ")}`
    }`,
  );
}
