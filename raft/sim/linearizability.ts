/**
 * A linearizability checker for the key-value history of a simulation run:
 * Wing & Gong's search with Lowe's memoization of (linearized set, state),
 * partitioned per key (operations on different keys commute). Bounded: past
 * `stepsMax` search steps a key is reported "unknown", never "ok".
 */
import { type KvOp, type KvOutput, stepModel } from "./kv.ts";

export interface HistoryOp {
  readonly client: number;
  readonly op: KvOp;
  readonly invokedAt: number;
  /** null: the outcome is unknown (the op may or may not have taken effect). */
  readonly returnedAt: number | null;
  readonly output: KvOutput | undefined;
}

export type LinearizabilityResult =
  | { readonly outcome: "ok" }
  | { readonly outcome: "unknown"; readonly key: string }
  | {
    readonly outcome: "violation";
    readonly key: string;
    readonly ops: readonly HistoryOp[];
  };

/** Search steps per key before giving up as "unknown". */
export const LINEARIZABILITY_STEPS_MAX = 200_000;

export function checkLinearizable(
  history: readonly HistoryOp[],
  stepsMax = LINEARIZABILITY_STEPS_MAX,
): LinearizabilityResult {
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const ops = byKey.get(op.op.key) ?? [];
    ops.push(op);
    byKey.set(op.op.key, ops);
  }
  let unknownKey: string | null = null;
  for (const [key, ops] of [...byKey].sort(([a], [b]) => a.localeCompare(b))) {
    const outcome = checkKey(ops, stepsMax);
    if (outcome === "violation") return { outcome, key, ops };
    if (outcome === "unknown") unknownKey ??= key;
  }
  return unknownKey === null
    ? { outcome: "ok" }
    : { outcome: "unknown", key: unknownKey };
}

type Event = {
  readonly op: number;
  readonly call: boolean;
  readonly time: number;
};

function checkKey(
  ops: readonly HistoryOp[],
  stepsMax: number,
): "ok" | "unknown" | "violation" {
  const events: Event[] = [];
  for (const [op, { invokedAt, returnedAt }] of ops.entries()) {
    events.push({ op, call: true, time: invokedAt });
    events.push({
      op,
      call: false,
      time: returnedAt ?? Number.POSITIVE_INFINITY,
    });
  }
  // At equal times calls go first: treating such ops as concurrent never reports a false violation.
  events.sort((a, b) =>
    a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1)
  );
  // A doubly linked list over events; index events.length is the head sentinel.
  const head = events.length;
  const next = new Int32Array(events.length + 1);
  const prev = new Int32Array(events.length + 1);
  const returnOf = new Int32Array(ops.length);
  for (let i = 0; i <= events.length; i++) {
    next[i] = i === events.length ? 0 : i + 1 === events.length ? -1 : i + 1;
    prev[i] = i === 0 ? head : i - 1;
  }
  if (events.length === 0) return "ok";
  for (const [i, event] of events.entries()) {
    if (!event.call) returnOf[event.op] = i;
  }

  const unlink = (i: number) => {
    next[prev[i]!] = next[i]!;
    if (next[i]! >= 0) prev[next[i]!] = prev[i]!;
  };
  const relink = (i: number) => {
    next[prev[i]!] = i;
    if (next[i]! >= 0) prev[next[i]!] = i;
  };

  let determinateLeft = ops.filter((op) => op.returnedAt !== null).length;
  let state: string | null = null;
  let linearized = 0n;
  const seen = new Set<string>();
  const stack: { event: number; state: string | null }[] = [];
  let at = next[head]!;
  for (let step = 0; step < stepsMax; step++) {
    if (determinateLeft === 0) return "ok";
    if (at < 0) return "violation";
    const event = events[at]!;
    if (event.call) {
      const op = ops[event.op]!;
      const result = stepModel(state, op.op);
      const matches = op.returnedAt === null ||
        sameOutput(result.output, op.output);
      const bit = 1n << BigInt(event.op);
      const key = `${(linearized | bit).toString(36)}|${result.state}`;
      if (matches && !seen.has(key)) {
        seen.add(key);
        stack.push({ event: at, state });
        state = result.state;
        linearized |= bit;
        if (op.returnedAt !== null) determinateLeft--;
        unlink(at);
        unlink(returnOf[event.op]!);
        at = next[head]!;
      } else {
        at = next[at]!;
      }
      continue;
    }
    // A return whose op is not linearized yet: undo the last choice.
    const top = stack.pop();
    if (!top) return "violation";
    const topOp = events[top.event]!.op;
    relink(returnOf[topOp]!);
    relink(top.event);
    state = top.state;
    linearized &= ~(1n << BigInt(topOp));
    if (ops[topOp]!.returnedAt !== null) determinateLeft++;
    at = next[top.event]!;
  }
  return "unknown";
}

function sameOutput(a: KvOutput | undefined, b: KvOutput | undefined): boolean {
  return a === b;
}
