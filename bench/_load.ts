/**
 * bench/raft's load generator: `concurrency` proposers against one proposer
 * group (one client connection pool or channel to the leader), each with
 * one write in flight, for a fixed time after a warm-up.
 */
import { percentile } from "./_stats.ts";

/** How one write ended. */
export type PutOutcome = "ok" | "error" | "timeout";

/** A client to the leader shared by a group of proposers. */
export interface ProposerGroup {
  put(key: string, value: string): Promise<PutOutcome>;
  close(): void;
}

export interface LoadResult {
  /** Writes answered inside the timed window, per second. */
  readonly commitsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Writes that failed (any answer but success), warm-up included. */
  readonly errors: number;
  /** Writes that hit the client's deadline, warm-up included. */
  readonly timeouts: number;
  /** Every successful write, warm-up and tail included. */
  readonly okTotal: number;
}

/** The deadline of one write, on every client path. */
export const WRITE_TIMEOUT_MS = 10_000;
const WARMUP_MS = 500;
const VALUE_PAD = "x".repeat(64);

export async function runLoad(
  group: ProposerGroup,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let timeouts = 0;
  let okTotal = 0;
  const warmupEnd = performance.now() + WARMUP_MS;
  const end = warmupEnd + seconds * 1000;
  const worker = async (w: number) => {
    for (let seq = 0; performance.now() < end; seq++) {
      const start = performance.now();
      const outcome = await group.put(`k${w}`, `${w}-${seq}-${VALUE_PAD}`);
      const now = performance.now();
      if (outcome !== "ok") {
        if (outcome === "timeout") timeouts++;
        else errors++;
        continue;
      }
      okTotal++;
      if (start >= warmupEnd && now <= end) latencies.push(now - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  latencies.sort((a, b) => a - b);
  return {
    commitsPerS: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors,
    timeouts,
    okTotal,
  };
}

/**
 * A proposer group over HTTP/1.1 keep-alive `fetch` POSTs of a JSON body:
 * mill's `/kv/put` and etcd's JSON gateway `/v3/kv/put` share it.
 */
export function httpGroup(
  url: string,
  body: (key: string, value: string) => string,
): ProposerGroup {
  const client = Deno.createHttpClient({});
  return {
    async put(key, value) {
      try {
        const response = await fetch(url, {
          method: "POST",
          body: body(key, value),
          client,
          signal: AbortSignal.timeout(WRITE_TIMEOUT_MS),
        });
        await response.arrayBuffer();
        return response.ok ? "ok" : "error";
      } catch (err) {
        return err instanceof DOMException && err.name === "TimeoutError"
          ? "timeout"
          : "error";
      }
    },
    close: () => client.close(),
  };
}
