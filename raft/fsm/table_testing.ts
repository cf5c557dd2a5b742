/**
 * Table tests for `apply`: each case applies some setup commands to a base
 * state, then one command, and expects it accepted (and checks the state)
 * or rejected with a given code (and the state untouched).
 */
import { apply } from "./apply.ts";
import type { Command, RejectionCode } from "./command.ts";
import { checkInvariants } from "./invariants.ts";
import type { ClusterState } from "./state.ts";
import { stateFrom } from "./testing.ts";

export interface ApplyCase {
  readonly name: string;
  readonly setup?: readonly Command[];
  readonly command: Command;
  /** "ok", or the rejection code expected. */
  readonly expect: "ok" | RejectionCode;
  /** For rejections: a fragment the message must contain. */
  readonly message?: string;
  readonly check?: (state: ClusterState, before: ClusterState) => void;
}

/** Runs every case as one `t.step`. */
export async function runApplyTable(
  t: Deno.TestContext,
  base: ClusterState,
  cases: readonly ApplyCase[],
): Promise<void> {
  for (const testCase of cases) {
    await t.step(testCase.name, () => runApplyCase(base, testCase));
  }
}

function runApplyCase(base: ClusterState, testCase: ApplyCase): void {
  const before = stateFrom(testCase.setup ?? [], base);
  const applied = apply(before, testCase.command);
  if (testCase.expect === "ok") {
    if (!applied.ok) {
      throw new Error(
        `expected acceptance, got ${applied.rejection.code}: ${applied.rejection.message}`,
      );
    }
    const problems = checkInvariants(applied.state);
    if (problems.length > 0) {
      throw new Error(`invariants: ${problems.join("; ")}`);
    }
    testCase.check?.(applied.state, before);
    return;
  }
  if (applied.ok) {
    throw new Error(`expected rejection ${testCase.expect}, got acceptance`);
  }
  if (applied.rejection.code !== testCase.expect) {
    throw new Error(
      `expected ${testCase.expect}, got ${applied.rejection.code}: ${applied.rejection.message}`,
    );
  }
  if (
    testCase.message !== undefined &&
    !applied.rejection.message.includes(testCase.message)
  ) {
    throw new Error(
      `message ${JSON.stringify(applied.rejection.message)} lacks ${
        JSON.stringify(testCase.message)
      }`,
    );
  }
}
