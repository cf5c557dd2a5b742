/**
 * The deploy bench's anchor: the same containers started by hand with
 * `ctr run -d` on the same containerd, each then probed until it answers the
 * same health check mill waits for. `concurrency` jobs at once: 1 is the
 * serial figure, mill's STARTS_PER_NODE_MAX the fair one.
 */
import { pool, waitAnswering } from "./_measure.ts";
import { ctr } from "./_ctr.ts";

/** The anchor's containers listen here (mill's come from the pool at 20000). */
const CTR_PORT_BASE = 30000;

export interface AnchorOptions {
  readonly socket: string;
  readonly runcRoot: string;
  readonly cgroupParent: string;
  readonly image: string;
  readonly cpu: number;
  readonly memoryBytes: number;
}

/**
 * Starts `services` containers, `concurrency` at a time, each counted done
 * once it answers; the elapsed ms. The containers are removed afterwards
 * (not timed), also when a start fails.
 */
export async function runAnchor(
  options: AnchorOptions,
  services: number,
  concurrency: number,
  tag: string,
): Promise<number> {
  const ids = Array.from({ length: services }, (_, i) => `bench-${tag}-${i}`);
  const started: string[] = [];
  try {
    const t0 = performance.now();
    await pool(ids, concurrency, async (id, i) => {
      const port = CTR_PORT_BASE + i;
      await ctr(options.socket, [
        "run",
        "-d",
        "--net-host",
        "--runc-root",
        options.runcRoot,
        "--cgroup",
        `${options.cgroupParent}/${id}`,
        "--cpus",
        String(options.cpu),
        "--memory-limit",
        String(options.memoryBytes),
        "--env",
        `PORT=${port}`,
        options.image,
        id,
      ]);
      started.push(id);
      await waitAnswering(`127.0.0.1:${port}`);
    });
    return performance.now() - t0;
  } finally {
    await pool(started, 8, async (id) => {
      await ctr(options.socket, ["task", "rm", "-f", id]);
      await ctr(options.socket, ["container", "rm", id]);
    });
  }
}
