/**
 * The request loop beside a rolling update: one client that, for every
 * request, asks for the service's endpoints afresh (as a DNS lookup with no
 * cache would), takes the next one round robin and GETs /health. A request
 * fails when there is no endpoint, the connection fails, it takes longer than
 * REQUEST_TIMEOUT_MS, or the answer is not 200. Requests start every
 * LOOP_MS at most (a steady rate, so that counts compare across sides).
 */
import { sleep } from "./_measure.ts";

const REQUEST_TIMEOUT_MS = 1_000;
export const LOOP_MS = 20;

export interface LoopCount {
  requests: number;
  failed: number;
}

/** Runs `during` with the loop going; the loop's count once `during` ends. */
export async function withRequestLoop<T>(
  endpoints: () => Promise<string[]>,
  during: () => Promise<T>,
): Promise<{ result: T; count: LoopCount }> {
  const count: LoopCount = { requests: 0, failed: 0 };
  let running = true;
  const loop = (async () => {
    for (let turn = 0; running; turn++) {
      const started = performance.now();
      count.requests++;
      const list = await endpoints();
      const address = list[turn % Math.max(1, list.length)];
      if (address === undefined) {
        count.failed++;
      } else {
        try {
          const response = await fetch(`http://${address}/health`, {
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          await response.body?.cancel();
          if (response.status !== 200) count.failed++;
        } catch {
          count.failed++;
        }
      }
      await sleep(Math.max(0, LOOP_MS - (performance.now() - started)));
    }
  })();
  try {
    const result = await during();
    return { result, count };
  } finally {
    running = false;
    await loop;
  }
}
