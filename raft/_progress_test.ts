import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { Progress, type ProgressMode } from "./_progress.ts";

interface Case {
  readonly mode: ProgressMode;
  readonly match: number;
  readonly next: number;
  readonly rejected: number;
  readonly hint: number;
  /** [returned, match, next, mode] after the rejection. */
  readonly expected: [boolean, number, number, ProgressMode];
}

function progressAt(mode: ProgressMode, match: number, next: number) {
  const progress = new Progress(1, 4);
  progress.maybeUpdate(match);
  if (mode === "replicate") progress.becomeReplicate();
  progress.next = next;
  return progress;
}

Deno.test("Progress.maybeDecrease() backs up, ignores stale answers, and forgets a member that lost entries", async (t) => {
  const cases: [string, Case][] = [
    ["probe: back up to the hint", {
      mode: "probe",
      match: 2,
      next: 10,
      rejected: 9,
      hint: 5,
      expected: [true, 2, 6, "probe"],
    }],
    ["probe: never below match + 1", {
      mode: "probe",
      match: 5,
      next: 10,
      rejected: 9,
      hint: 5,
      expected: [true, 5, 6, "probe"],
    }],
    ["probe: a stale answer (not for next - 1)", {
      mode: "probe",
      match: 2,
      next: 10,
      rejected: 7,
      hint: 3,
      expected: [false, 2, 10, "probe"],
    }],
    ["replicate: back to match + 1", {
      mode: "replicate",
      match: 5,
      next: 12,
      rejected: 8,
      hint: 7,
      expected: [true, 5, 6, "replicate"],
    }],
    ["replicate: a stale answer below match", {
      mode: "replicate",
      match: 8,
      next: 12,
      rejected: 6,
      hint: 2,
      expected: [false, 8, 12, "replicate"],
    }],
    ["replicate: a hint below match forgets it", {
      mode: "replicate",
      match: 20,
      next: 25,
      rejected: 24,
      hint: 8,
      expected: [true, 0, 9, "probe"],
    }],
    ["probe: a hint below match forgets it", {
      mode: "probe",
      match: 20,
      next: 21,
      rejected: 20,
      hint: 3,
      expected: [true, 0, 4, "probe"],
    }],
    ["a hint at match is a healthy member", {
      mode: "probe",
      match: 20,
      next: 23,
      rejected: 22,
      hint: 20,
      expected: [true, 20, 21, "probe"],
    }],
  ];
  for (const [name, c] of cases) {
    await t.step(name, () => {
      const progress = progressAt(c.mode, c.match, c.next);
      const returned = progress.maybeDecrease(c.rejected, c.hint);
      assertEquals(
        [returned, progress.match, progress.next, progress.mode],
        c.expected,
      );
    });
  }
});
