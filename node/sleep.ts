/**
 * A wait that ends early, without an error, when `signal` aborts: the
 * loops of the agent's parts sleep with it so that stopping them is quick.
 */
export function sleepUnlessAborted(
  ms: number,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
