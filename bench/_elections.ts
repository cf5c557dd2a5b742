/** bench/raft's election timing: kill -9 the leader, time the next one. */
import { sleep, waitFor } from "../tests/raft/process_cluster.ts";

export interface ElectionTarget {
  findLeader(exclude?: string | null): Promise<string | null>;
  kill(id: string): Promise<void>;
  start(id: string): Promise<void>;
  /** True once every member is up and agrees on one leader. */
  allAgree(): Promise<boolean>;
}

/**
 * `rounds` times: wait for a settled cluster, kill -9 its leader, time until
 * another member reports itself leader (polled every 2 ms), restart the
 * killed one. Returns the times, ascending.
 */
export async function measureElections(
  target: ElectionTarget,
  rounds: number,
): Promise<number[]> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await waitFor(
      "a settled cluster",
      async () => (await target.allAgree()) ? true : null,
      60_000,
    );
    const leader = await waitFor("a leader", () => target.findLeader());
    const start = performance.now();
    await target.kill(leader);
    for (;;) {
      if ((await target.findLeader(leader)) !== null) break;
      if (performance.now() - start > 30_000) {
        throw new Error("No new leader within 30 s");
      }
      await sleep(2);
    }
    times.push(performance.now() - start);
    await target.start(leader);
  }
  return times.sort((a, b) => a - b);
}
