/**
 * The scale bench's workload and what "converged" means: a config of N
 * httpd services with 2 or 3 replicas each (small cpu and memory, an HTTP
 * health check), and a check, from the leader's `GET /v1/allocs`, that
 * every service has its replica count healthy on the nodes still alive.
 */
import type { Bed, BedNode } from "../tests/cluster/bed.ts";

/** Small enough that 125 replicas fit on a few nodes many times over. */
const CPU = 0.02;
const MEMORY = "16M";

export interface ScaleService {
  readonly name: string;
  readonly replicas: number;
}

/** s0…s(N-1), alternating 2 and 3 replicas (s0 has 3). */
export function scaleServices(count: number): ScaleService[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `s${i}`,
    replicas: i % 2 === 0 ? 3 : 2,
  }));
}

/** The `.mill` text of `services`, each an httpd with a health check. */
export function scaleConfig(
  image: string,
  services: readonly ScaleService[],
): string {
  return services.map((s) =>
    [
      `service "${s.name}" {`,
      `  image = "${image}"`,
      `  port = 8080`,
      `  replicas = ${s.replicas}`,
      `  cpu = ${CPU}`,
      `  memory = "${MEMORY}"`,
      `  stop_grace_period = "1s"`,
      `  health { path = "/health"; interval = "1s" }`,
      `}`,
    ].join("\n")
  ).join("\n") + "\n";
}

interface AllocView {
  readonly workload: string;
  readonly nodeName: string | null;
  readonly status: string;
  readonly stopRequested?: boolean;
}

export interface Convergence {
  readonly converged: boolean;
  /** Healthy replicas on live nodes, over all services. */
  readonly healthy: number;
  /** Services short of their count, e.g. `s3 1/2`. */
  readonly short: string[];
  /** Allocs per node name (live allocs only). */
  readonly perNode: Map<string, number>;
}

/** Whether every service has its replica count healthy, none on `dead` nodes, as `via` answers. */
export async function convergence(
  bed: Bed,
  via: BedNode,
  services: readonly ScaleService[],
  dead: ReadonlySet<string> = new Set(),
): Promise<Convergence> {
  const { allocs } = await bed.api<{ allocs: AllocView[] }>(via, "/v1/allocs");
  const healthy = new Map<string, number>();
  const perNode = new Map<string, number>();
  for (const alloc of allocs) {
    if (alloc.nodeName !== null) {
      perNode.set(alloc.nodeName, (perNode.get(alloc.nodeName) ?? 0) + 1);
    }
    if (
      alloc.status === "healthy" && alloc.stopRequested !== true &&
      alloc.nodeName !== null && !dead.has(alloc.nodeName)
    ) {
      healthy.set(alloc.workload, (healthy.get(alloc.workload) ?? 0) + 1);
    }
  }
  const short = services
    .filter((s) => (healthy.get(s.name) ?? 0) < s.replicas)
    .map((s) => `${s.name} ${healthy.get(s.name) ?? 0}/${s.replicas}`);
  const total = services.reduce(
    (sum, s) => sum + Math.min(s.replicas, healthy.get(s.name) ?? 0),
    0,
  );
  return { converged: short.length === 0, healthy: total, short, perNode };
}

/**
 * Polls `convergence` until it holds; returns the ms from `t0`
 * (performance.now()) to the first poll that saw it. Logs progress.
 */
export async function waitConverged(
  bed: Bed,
  via: BedNode,
  services: readonly ScaleService[],
  options: {
    t0: number;
    timeoutMs: number;
    what: string;
    dead?: ReadonlySet<string>;
    log: (line: string) => void;
    /** Throws to give up at once (an agent died). */
    check?: () => Promise<void>;
  },
): Promise<{ ms: number; last: Convergence }> {
  const wanted = services.reduce((sum, s) => sum + s.replicas, 0);
  const deadline = options.t0 + options.timeoutMs;
  let last: Convergence | null = null;
  let lastError = "";
  let lastLog = 0;
  while (performance.now() < deadline) {
    await options.check?.();
    try {
      last = await convergence(bed, via, services, options.dead);
      if (last.converged) {
        return { ms: performance.now() - options.t0, last };
      }
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (performance.now() - lastLog > 5_000) {
      lastLog = performance.now();
      options.log(
        `${options.what}: ${last?.healthy ?? "?"}/${wanted} healthy after ${
          ((performance.now() - options.t0) / 1000).toFixed(1)
        } s${lastError === "" ? "" : ` (last error: ${lastError})`}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${options.what}: not converged within ${options.timeoutMs} ms; ${
      last?.healthy ?? "?"
    }/${wanted} healthy, short: ${last?.short.slice(0, 10).join(", ")}${
      lastError === "" ? "" : `; last error: ${lastError}`
    }`,
  );
}
