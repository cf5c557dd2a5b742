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

  constructor(options: DeployDutyOptions) {
    this.#options = options;
  }

  /** The coordinator of this term; null while not leading. */
  get current(): Coordinator | null {
    return this.#coordinator;
  }

  /** Settles once this term's coordinator recovered the deploys in flight. */
  get recovered(): Promise<void> {
    return this.#recovered;
  }

  lead(term: LeaderTerm): void {
    const coordinator = this.#options.create(this.#options.context(term));
    this.#coordinator = coordinator;
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
