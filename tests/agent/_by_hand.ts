/**
 * Allocs placed and started by hand on a one-node agent bed, as the
 * coordinator would (config deployed and the deploy finished, scheduled,
 * starting, pulled, started, running), with any start request fields a
 * test needs (a command, volumes, a restart policy).
 */
import { parseConfig } from "../../config/mod.ts";
import type { StartRequest } from "../../node/rpc/mod.ts";
import type { AgentBed } from "./_bed.ts";

const MEMORY_BYTES = 64 * 1024 * 1024;

/** Makes `source` (a `.mill` text) the cluster's config, the deploy done. */
export async function deployByHand(
  bed: AgentBed,
  deployId: string,
  source: string,
): Promise<void> {
  const parsed = parseConfig(source, `${deployId}.mill`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.diagnostics));
  const atMs = Date.now();
  for (
    const command of [
      { type: "Deploy", deployId, config: parsed.config, atMs },
      {
        type: "DeployFinished",
        deployId,
        outcome: "succeeded",
        message: "placed by the test",
        atMs,
      },
    ] as const
  ) {
    const result = await bed.agent.leader!.commit(command);
    if (!result.ok) throw new Error(JSON.stringify(result));
  }
}

/** Schedules and starts one alloc of a deployed workload. */
export async function startByHand(
  bed: AgentBed,
  request:
    & Pick<StartRequest, "allocId" | "name" | "kind" | "image">
    & Partial<StartRequest>,
  signal: AbortSignal,
): Promise<void> {
  const leader = bed.agent.leader!;
  const nodeId = bed.agent.identity.nodeId;
  const commit = async (command: Parameters<typeof leader.commit>[0]) => {
    const result = await leader.commit(command);
    if (!result.ok) throw new Error(JSON.stringify(result));
  };
  const atMs = Date.now();
  await commit({
    type: "AllocScheduled",
    allocId: request.allocId,
    nodeId,
    workload: request.name,
    kind: request.kind,
    image: request.image,
    cpuMillis: 100,
    memoryBytes: MEMORY_BYTES,
    atMs,
  });
  await commit({
    type: "AllocStatus",
    allocId: request.allocId,
    status: "starting",
    atMs,
  });
  const runtime = leader.runtime(nodeId);
  await runtime.pull({ image: request.image }, signal);
  await runtime.start({
    env: {},
    secretValues: {},
    cpu: 0.1,
    memoryBytes: MEMORY_BYTES,
    labels: {},
    stopSignal: "SIGTERM",
    stopGracePeriodMs: 1_000,
    ...request,
  }, signal);
  await commit({
    type: "AllocRunning",
    allocId: request.allocId,
    address: "127.0.0.1:1",
    atMs: Date.now(),
  });
}

/** The lines the node holds for an alloc, oldest first. */
export async function linesOf(
  bed: AgentBed,
  allocId: string,
): Promise<string[]> {
  const runtime = bed.agent.leader!.runtime(bed.agent.identity.nodeId);
  const logs = await runtime.logs(
    { allocId, tailLines: 1_000 },
    AbortSignal.timeout(10_000),
  );
  return logs.lines.map((l) => l.line);
}
