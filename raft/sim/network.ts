/**
 * The simulated network: messages wait in flight until their delivery tick,
 * then one is picked at random (reordering); the fault profile drops,
 * duplicates and delays them; partitions block directed links.
 */
import type { SeededRng } from "../rng.ts";
import type { MemberId, Message } from "../types.ts";

export interface NetworkFaults {
  /** Probability that a sent message is lost. */
  readonly lossRate: number;
  /** Probability that a sent message is delivered twice. */
  readonly duplicateRate: number;
  /** Extra delivery delay in ticks, uniform in [0, delayTicksMax]. */
  readonly delayTicksMax: number;
}

type InFlight = { readonly message: Message; readonly deliverAt: number };

/** Messages in flight past which new ones are dropped (a full socket buffer). */
export const IN_FLIGHT_MAX = 20_000;

export class SimNetwork {
  #inFlight: InFlight[] = [];
  /** Directed links that drop everything: "from>to". */
  readonly #blocked = new Set<string>();
  readonly #rng: SeededRng;
  faults: NetworkFaults;

  constructor(rng: SeededRng, faults: NetworkFaults) {
    this.#rng = rng;
    this.faults = faults;
  }

  get size(): number {
    return this.#inFlight.length;
  }

  send(message: Message, now: number): void {
    if (this.#inFlight.length >= IN_FLIGHT_MAX) return;
    if (this.#rng.chance(this.faults.lossRate)) return;
    const copies = this.#rng.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.#inFlight.push({
        message,
        deliverAt: now + this.#rng.nextInt(this.faults.delayTicksMax + 1),
      });
    }
  }

  /** Take one deliverable message at random (null when none is due); blocked links swallow it. */
  takeDue(now: number): Message | null {
    const due: number[] = [];
    for (let i = 0; i < this.#inFlight.length && due.length < 16; i++) {
      if (this.#inFlight[i]!.deliverAt <= now) due.push(i);
    }
    if (due.length === 0) return null;
    const at = due[this.#rng.nextInt(due.length)]!;
    const [{ message }] = this.#inFlight.splice(at, 1) as [InFlight];
    if (this.#blocked.has(`${message.from}>${message.to}`)) return null;
    return message;
  }

  hasDue(now: number): boolean {
    return this.#inFlight.some((item) => item.deliverAt <= now);
  }

  block(from: MemberId, to: MemberId): void {
    this.#blocked.add(`${from}>${to}`);
  }

  /** Split `side` from everyone else in both directions. */
  partition(side: readonly MemberId[], all: readonly MemberId[]): void {
    for (const a of side) {
      for (const b of all) {
        if (side.includes(b)) continue;
        this.block(a, b);
        this.block(b, a);
      }
    }
  }

  heal(): void {
    this.#blocked.clear();
  }

  get partitioned(): boolean {
    return this.#blocked.size > 0;
  }

  describeBlocked(): string {
    return [...this.#blocked].sort().join(",");
  }
}
