/** What the deploy tests read of a one-node bed: live allocs, and whether one answers. */
import { isTerminal } from "../../raft/mod.ts";
import type { AgentBed } from "../agent/_bed.ts";

/** The workload's allocs that are not terminal, by id. */
export function liveAllocs(bed: AgentBed, workload: string) {
  return [...bed.agent.state().allocs.values()].filter((a) =>
    a.workload === workload && !isTerminal(a.status)
  ).sort((a, b) => a.id < b.id ? -1 : 1);
}

/** Whether the http test image on `port` answers its `/health` with `ok`. */
export async function answers(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, {
      signal: AbortSignal.timeout(2_000),
    });
    return response.ok && (await response.text()).trim() === "ok";
  } catch {
    return false;
  }
}
