/**
 * Leader-scoped services: duties that run only while this node leads.
 * `Leadership` watches the Raft role; when the node becomes leader of a
 * term it starts each duty in order with that term's `AbortSignal`, and
 * when it stops leading (or the agent stops) it aborts the signal and steps
 * the duties down in reverse. Transitions run one at a time, in order.
 *
 * A new leader-only duty (ACME ordering, volume orchestration…) is one more
 * `LeaderService` in the list the composition root builds.
 */
import type { Service } from "../supervisor.ts";
import { sleepUnlessAborted } from "../../sleep.ts";

/** One term of leadership, as a duty sees it. */
export interface LeaderTerm {
  readonly term: number;
  /** Aborts when this node stops leading this term. */
  readonly signal: AbortSignal;
}

/** A duty of the leader. */
export interface LeaderService {
  readonly name: string;
  /**
   * Takes up the duty for `term` (the duties before it have), at once:
   * longer work runs in the background, bound to `term.signal`.
   */
  lead(term: LeaderTerm): void;
  /** Lays it down (after the term's signal aborted); idempotent. */
  stepDown(): Promise<void>;
}

/** What `Leadership` reads of Raft. */
export interface RaftRole {
  readonly role: string;
  readonly term: number;
}

export interface LeadershipOptions {
  /** Raft's current role and term. */
  role(): RaftRole;
  /**
   * Settles once this leader's state machine holds every entry committed
   * before its term (Raft's read barrier); rejects when it cannot tell. A
   * new leader learns the commit index only by committing in its own term,
   * and a duty acting on the state before that would act on a past: a
   * deploy recovered without the allocs the old leader had just scheduled.
   */
  caughtUp(): Promise<void>;
  readonly duties: readonly LeaderService[];
  /** How often the role is polled besides Raft's own role-change calls. */
  readonly pollMs: number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class Leadership implements Service {
  readonly name = "leadership";
  readonly #options: LeadershipOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The term whose duties run (or are being started), or null. */
  #term:
    | { readonly term: number; readonly controller: AbortController }
    | null = null;
  /** The term whose duties were all started. */
  #ledTerm: number | null = null;
  #transitions: Promise<void> = Promise.resolve();
  /** Transitions queued and not yet done. */
  #pending = 0;
  #started = false;
  #stopped = false;
  readonly #led: LeaderService[] = [];

  constructor(options: LeadershipOptions) {
    this.#options = options;
  }

  /** True while this node leads and its duties for the term were started. */
  get isLeader(): boolean {
    const role = this.#options.role();
    return role.role === "leader" && this.#term?.term === role.term &&
      this.#ledTerm === role.term;
  }

  /** Settles once every transition asked for so far is done. */
  get settled(): Promise<void> {
    return this.#transitions;
  }

  start(): Promise<void> {
    // Runs until stop(): the safety net under Raft's role-change calls.
    this.#started = true;
    this.#timer = setInterval(() => this.check(), this.#options.pollMs);
    this.check();
    return Promise.resolve();
  }

  /** Notices a change of role now (Raft calls this on every change). */
  check(): void {
    if (!this.#started || this.#stopped) return;
    const role = this.#options.role();
    const leading = role.role === "leader";
    if (leading && this.#term?.term !== role.term) {
      const previous = this.#term;
      const next = { term: role.term, controller: new AbortController() };
      this.#term = next;
      // Aborted now, not in the queue: a wait for the barrier ends at once.
      previous?.controller.abort(new Error("leadership ended"));
      this.#enqueue(async () => {
        if (previous !== null) await this.#stepDown(previous.controller);
        await this.#lead(next.term, next.controller.signal);
      });
    } else if (!leading && this.#term !== null) {
      const previous = this.#term;
      this.#term = null;
      previous.controller.abort(new Error("leadership ended"));
      this.#enqueue(() => this.#stepDown(previous.controller));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    const previous = this.#term;
    this.#term = null;
    if (previous !== null) {
      previous.controller.abort(new Error("leadership ended"));
      this.#enqueue(() => this.#stepDown(previous.controller));
    }
    await this.#transitions;
  }

  #enqueue(transition: () => Promise<void>): void {
    this.#pending++;
    this.#transitions = this.#transitions.then(transition).catch((error) =>
      // A transition never rejects the chain: the next one must still run.
      this.#options.log("error", `leadership transition: ${error}`)
    ).finally(() => this.#pending--);
  }

  async #lead(term: number, signal: AbortSignal): Promise<void> {
    if (!await this.#caughtUp(term, signal)) return;
    this.#options.log("info", `leader for term ${term}`);
    for (const duty of this.#options.duties) {
      if (signal.aborted) return;
      try {
        duty.lead({ term, signal });
        this.#led.push(duty);
      } catch (error) {
        this.#options.log(
          "error",
          `cannot take up ${duty.name} for term ${term}: ${error}`,
        );
      }
    }
    if (!signal.aborted) this.#ledTerm = term;
  }

  /** Waits for the barrier, retrying while the term lasts; false once it ended. */
  async #caughtUp(term: number, signal: AbortSignal): Promise<boolean> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await untilAborted(this.#options.caughtUp(), signal);
        return !signal.aborted;
      } catch (error) {
        if (signal.aborted) return false;
        if (attempt === 0) {
          this.#options.log(
            "warn",
            `leader for term ${term}, not caught up yet: ${error}`,
          );
        }
        await sleepUnlessAborted(Math.min(1_000, 20 * 2 ** attempt), signal);
      }
    }
    return false;
  }

  async #stepDown(controller: AbortController): Promise<void> {
    controller.abort(new Error("leadership ended"));
    this.#ledTerm = null;
    if (this.#led.length > 0) this.#options.log("info", "no longer leader");
    while (this.#led.length > 0) {
      const duty = this.#led.pop()!;
      try {
        await duty.stepDown();
      } catch (error) {
        this.#options.log("error", `cannot lay down ${duty.name}: ${error}`);
      }
    }
  }
}

/** `promise`, or a rejection as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}
