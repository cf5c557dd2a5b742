/**
 * What an agent must undo on stop, undone last-in first-out, once: both
 * agent kinds build themselves up step by step and must tear down a
 * half-built agent the same way as a whole one.
 */
export type Cleanup = () => Promise<void> | void;

export class CleanupStack {
  #cleanups: Cleanup[] = [];
  #stopped = false;

  /** Undone before everything pushed earlier. */
  push(cleanup: Cleanup): void {
    this.#cleanups.push(cleanup);
  }

  /** Undone right after the most recent cleanup, before all others. */
  pushBelowTop(cleanup: Cleanup): void {
    this.#cleanups.splice(this.#cleanups.length - 1, 0, cleanup);
  }

  /** Runs every cleanup, newest first; later calls do nothing. */
  readonly stopAll = async (): Promise<void> => {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const cleanup of this.#cleanups.reverse()) await cleanup();
  };
}
