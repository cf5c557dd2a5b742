/**
 * The deploy coordinator as a leader duty: a new coordinator each term,
 * which first recovers the deploys a previous leader left in flight, and
 * closes when the term ends.
 */
import type { Coordinator, DeployContext } from "../../deploy/mod.ts";
import type { LeaderService, LeaderTerm } from "./leadership.ts";

export interface DeployDutyOptions {
  /** The context lent to the coordinator of `term`. */
  context(term: LeaderTerm): DeployContext;
  create(context: DeployContext): Coordinator;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class DeployDuty implements LeaderService {
  readonly name = "deploys";
  readonly #options: DeployDutyOptions;
  #coordinator: Coordinator | null = null;
  #recovered: Promise<void> = Promise.resolve();
  /** Woken when a term's coordinator is created. */
  #waiters: (() => void)[] = [];

  constructor(options: DeployDutyOptions) {
    this.#options = options;
  }

  /** The coordinator of this term; null while not leading. */
  get current(): Coordinator | null {
    return this.#coordinator;
  }

  /**
   * The coordinator of this term, waiting up to `timeoutMs` for one (a new
   * leader starts its duties once it caught up with the log); null after.
   */
  async whenCurrent(timeoutMs: number): Promise<Coordinator | null> {
    if (this.#coordinator !== null) return this.#coordinator;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wake = () => {};
    await new Promise<void>((resolve) => {
      wake = resolve;
      this.#waiters.push(wake);
      timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
    this.#waiters = this.#waiters.filter((waiter) => waiter !== wake);
    return this.#coordinator;
  }

  /** Settles once this term's coordinator recovered the deploys in flight. */
  get recovered(): Promise<void> {
    return this.#recovered;
  }

  lead(term: LeaderTerm): void {
    const coordinator = this.#options.create(this.#options.context(term));
    this.#coordinator = coordinator;
    for (const wake of this.#waiters.splice(0)) wake();
    this.#recovered = coordinator.recoverInFlight().catch((error) =>
      this.#options.log("error", `recovering deploys in flight: ${error}`)
    );
  }

  async stepDown(): Promise<void> {
    const coordinator = this.#coordinator;
    this.#coordinator = null;
    await coordinator?.close();
  }
}
