import { apply } from "./apply.ts";
import { decodeCommand, encodeCommand } from "./codec.ts";
import { randomCommand } from "./generate_testing.ts";
import { checkInvariants } from "./invariants.ts";
import { testSeeds, withSeed } from "./seed_testing.ts";
import { type ClusterState, emptyState, isTerminal } from "./state.ts";
import { Rng } from "./testing.ts";

const SEEDS = 20;
const STEPS = 600;

function fail(step: number, message: string): never {
  throw new Error(`step ${step}: ${message}`);
}

/** Every alloc once terminal is still terminal (or forgotten). */
function checkTerminalStays(
  terminal: Set<string>,
  state: ClusterState,
  step: number,
): void {
  for (const id of terminal) {
    const alloc = state.allocs.get(id);
    if (alloc === undefined) terminal.delete(id);
    else if (!isTerminal(alloc.status)) {
      fail(step, `alloc ${id} left a terminal status for ${alloc.status}`);
    }
  }
  for (const alloc of state.allocs.values()) {
    if (isTerminal(alloc.status)) terminal.add(alloc.id);
  }
}

Deno.test("apply() keeps every invariant over random command sequences", () => {
  for (const seed of testSeeds(SEEDS)) {
    withSeed(seed, () => {
      const rng = new Rng(seed);
      let state = emptyState();
      const terminal = new Set<string>();
      let accepted = 0;
      for (let step = 0; step < STEPS; step++) {
        const command = randomCommand(rng, state, 1000 + step);
        // Through the log encoding, as the Raft shell will feed it.
        const decoded = decodeCommand(encodeCommand(command));
        if (!decoded.ok) {
          fail(step, `round trip refused: ${decoded.rejection.message}`);
        }
        const applied = apply(state, decoded.command);
        if (!applied.ok) continue;
        accepted++;
        state = applied.state;
        const problems = checkInvariants(state);
        if (problems.length > 0) {
          fail(step, `after ${command.type}: ${problems.join("; ")}`);
        }
        checkTerminalStays(terminal, state, step);
      }
      if (accepted < STEPS / 10) {
        fail(STEPS, `only ${accepted} commands accepted`);
      }
    });
  }
});

Deno.test("apply() with a rejection returns nothing but the rejection and never throws", () => {
  for (const seed of testSeeds(SEEDS)) {
    withSeed(seed, () => {
      const rng = new Rng(seed);
      let state = emptyState();
      for (let step = 0; step < STEPS; step++) {
        const command = randomCommand(rng, state, 1000 + step);
        const applied = apply(state, command);
        if (applied.ok) {
          state = applied.state;
        } else if (
          typeof applied.rejection.code !== "string" ||
          applied.rejection.message.length === 0
        ) {
          fail(step, "rejection without code or message");
        }
      }
    });
  }
});
