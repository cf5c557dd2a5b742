/**
 * What the deploy bench's sides share: the health check every side waits
 * for (the one mill's deploy runs: HTTP GET /health at the same interval),
 * a bounded worker pool, medians.
 */

/** The health check's interval and timeout on every side (mill's minimum). */
export const PROBE_MS = 100;
/** How long any side may take to get one container answering. */
export const ANSWER_DEADLINE_MS = 120_000;

export { median } from "./_stats.ts";

export function round1(value: number): number {
  return Number(value.toFixed(1));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One probe: `GET http://<address>/health` answered 200 within PROBE_MS. */
export async function answers(
  address: string,
  timeoutMs = PROBE_MS,
): Promise<boolean> {
  try {
    const response = await fetch(`http://${address}/health`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** Probes `address` every PROBE_MS until it answers; throws past the deadline. */
export async function waitAnswering(address: string): Promise<void> {
  const deadline = performance.now() + ANSWER_DEADLINE_MS;
  while (performance.now() < deadline) {
    const started = performance.now();
    if (await answers(address)) return;
    await sleep(Math.max(0, PROBE_MS - (performance.now() - started)));
  }
  throw new Error(
    `http://${address}/health did not answer within ${ANSWER_DEADLINE_MS} ms`,
  );
}

/** Runs `job` over `items`, at most `concurrency` at once; the first error wins. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  job: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await job(items[index]!, index);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, worker),
  );
}
