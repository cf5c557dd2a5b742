/**
 * Raft's safety properties, checked across all simulated members:
 * election safety, log matching, leader completeness, state-machine safety.
 */
import type { RaftCore } from "../core.ts";
import type { Entry, MemberId } from "../types.ts";

export class SafetyViolation extends Error {
  override name = "SafetyViolation";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

function entryDigest(entry: Entry): string {
  return `${entry.term}/${entry.kind}/${new TextDecoder().decode(entry.data)}`;
}

export class SafetyChecker {
  /** term -> the one leader seen in it. */
  readonly #leaders = new Map<number, MemberId>();
  /** index -> digest of the entry applied there (by anyone). */
  readonly #applied = new Map<number, string>();
  /** index -> term of an entry known committed (applied somewhere). */
  readonly #committedTerms = new Map<number, number>();
  #committedMax = 0;
  /** Leaders already checked for completeness: "id@term". */
  readonly #checkedLeaders = new Set<string>();

  get committedMax(): number {
    return this.#committedMax;
  }

  /** Election safety, and leader completeness for each new leader; returns how many leaders are new. */
  checkLeaders(cores: readonly RaftCore[]): number {
    let elected = 0;
    for (const core of cores) {
      if (core.role !== "leader") continue;
      const known = this.#leaders.get(core.term);
      if (known !== undefined && known !== core.id) {
        throw new SafetyViolation(
          "election_safety",
          `two leaders in term ${core.term}: "${known}" and "${core.id}"`,
        );
      }
      this.#leaders.set(core.term, core.id);
      const key = `${core.id}@${core.term}`;
      if (!this.#checkedLeaders.has(key)) {
        this.#checkedLeaders.add(key);
        this.#checkCompleteness(core);
        elected++;
      }
    }
    return elected;
  }

  #checkCompleteness(leader: RaftCore): void {
    const floor = leader.snapshot.meta.index;
    for (let index = floor + 1; index <= this.#committedMax; index++) {
      const term = this.#committedTerms.get(index);
      if (term === undefined) continue;
      const entry = leader.entry(index);
      if (entry === null || entry.term !== term) {
        throw new SafetyViolation(
          "leader_completeness",
          `leader "${leader.id}" of term ${leader.term} lacks committed index ${index} (term ${term}); it has ${
            entry ? `term ${entry.term}` : "nothing"
          }`,
        );
      }
    }
  }

  /** State-machine safety: no two members apply different entries at one index. Returns whether the index is new. */
  recordApplied(node: MemberId, entry: Entry): boolean {
    const digest = entryDigest(entry);
    const known = this.#applied.get(entry.index);
    if (known !== undefined && known !== digest) {
      throw new SafetyViolation(
        "state_machine_safety",
        `"${node}" applied ${digest} at index ${entry.index} where another member applied ${known}`,
      );
    }
    this.#applied.set(entry.index, digest);
    this.#committedTerms.set(entry.index, entry.term);
    this.#committedMax = Math.max(this.#committedMax, entry.index);
    return known === undefined;
  }

  /** A member installed a snapshot: every index it covers counts as applied there. */
  recordSnapshot(index: number): void {
    this.#committedMax = Math.max(this.#committedMax, index);
  }

  /** Log matching: same (index, term) means same entry and the same log before it. */
  checkLogMatching(cores: readonly RaftCore[]): void {
    const byIndexTerm = new Map<string, string>();
    for (const core of cores) {
      for (
        let index = core.snapshot.meta.index + 1;
        index <= core.lastIndex;
        index++
      ) {
        const entry = core.entry(index)!;
        const key = `${index}/${entry.term}`;
        const digest = entryDigest(entry);
        const known = byIndexTerm.get(key);
        if (known !== undefined && known !== digest) {
          throw new SafetyViolation(
            "log_matching",
            `two different entries at index ${index} term ${entry.term}`,
          );
        }
        byIndexTerm.set(key, digest);
      }
    }
    for (let i = 0; i < cores.length; i++) {
      for (let j = i + 1; j < cores.length; j++) {
        this.#checkPrefix(cores[i]!, cores[j]!);
      }
    }
  }

  #checkPrefix(a: RaftCore, b: RaftCore): void {
    const floor = Math.max(a.snapshot.meta.index, b.snapshot.meta.index);
    let top = Math.min(a.lastIndex, b.lastIndex);
    while (top > floor && a.entry(top)!.term !== b.entry(top)!.term) top--;
    for (let index = top; index > floor; index--) {
      if (a.entry(index)!.term !== b.entry(index)!.term) {
        throw new SafetyViolation(
          "log_matching",
          `"${a.id}" and "${b.id}" agree at index ${top} but differ at index ${index}`,
        );
      }
    }
  }
}
