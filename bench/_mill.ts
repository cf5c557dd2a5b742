/**
 * The deploy bench's mill side: configs of N one-replica services and of the
 * rolled 3-replica service, a deploy timed from `POST /v1/deploy` to its
 * `done` event, and a service's healthy endpoints as DNS would hand them out.
 */
import type { AgentBed } from "../tests/agent/_bed.ts";
import { readEvents } from "../tests/deploy/_sse.ts";
import { PROBE_MS } from "./_measure.ts";

export const CPU = 0.05;
export const MEMORY_BYTES = 32 * 1024 * 1024;
/** Every side stops a container with this grace. */
export const STOP_GRACE_S = 2;

function service(
  name: string,
  image: string,
  extra: readonly string[] = [],
): string {
  return [
    `service "${name}" {`,
    `  image = "${image}"`,
    `  port = 8080`,
    `  cpu = ${CPU}`,
    `  memory = "32M"`,
    `  stop_grace_period = "${STOP_GRACE_S}s"`,
    `  health { path = "/health"; interval = "${PROBE_MS}ms" }`,
    ...extra.map((line) => `  ${line}`),
    `}`,
  ].join("\n");
}

/** `services` one-replica services s0…, each checked over HTTP. */
export function servicesConfig(image: string, services: number): string {
  return Array.from({ length: services }, (_, i) => service(`s${i}`, image))
    .join("\n");
}

/** The rolled service: 3 replicas, `V` in its env, `order` when given. */
export function rollConfig(
  image: string,
  name: string,
  version: number,
  order?: "start-first" | "stop-first",
): string {
  return service(name, image, [
    "replicas = 3",
    `env { V = "${version}" }`,
    ...(order === undefined ? [] : [`update { order = "${order}" }`]),
  ]);
}

/** A config with no service: deploying it stops every bench service. */
export function teardownConfig(image: string): string {
  return `task "idle" {\n  image = "${image}"\n}`;
}

/** Deploys `text`; the ms from the request to the `done` event. */
export async function millDeploy(bed: AgentBed, text: string): Promise<number> {
  const t0 = performance.now();
  const response = await bed.api("/v1/deploy?file=bench.mill", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: text,
  });
  if (response.status !== 200) {
    throw new Error(
      `deploy answered ${response.status}: ${await response.text()}`,
    );
  }
  const events = await readEvents(response);
  const elapsed = performance.now() - t0;
  const last = events.at(-1);
  if (last?.event !== "done") {
    throw new Error(`deploy did not finish: ${JSON.stringify(last)}`);
  }
  return elapsed;
}

interface AllocView {
  readonly status: string;
  readonly stopRequested: boolean;
  readonly address: string | null;
  readonly hostPort: number | null;
}

/**
 * `service`'s healthy endpoints from `GET /v1/allocs`: healthy, no stop
 * requested (what DNS answers for `<service>.mill`), as host:port.
 */
export async function millEndpoints(
  bed: AgentBed,
  name: string,
): Promise<string[]> {
  const response = await bed.api(`/v1/allocs?service=${name}`);
  if (response.status !== 200) {
    throw new Error(
      `GET /v1/allocs answered ${response.status}: ${await response.text()}`,
    );
  }
  const { allocs } = await response.json() as { allocs: AllocView[] };
  return allocs
    .filter((alloc) =>
      alloc.status === "healthy" && !alloc.stopRequested &&
      alloc.address !== null && alloc.hostPort !== null
    )
    .map((alloc) =>
      alloc.address!.includes(":")
        ? alloc.address!
        : `${alloc.address}:${alloc.hostPort}`
    );
}
