/**
 * The nemesis test's client history and its translation into the
 * registers `raft/sim/linearizability.ts` checks (pure, no I/O).
 *
 * The model. The API never hands out a secret's value, only its name and
 * `updatedAt` (`GET /v1/secrets`), which is the leader's clock when it took
 * the `PUT` and goes through Raft with it (`SecretSet.atMs`). So each secret
 * name is a register whose value is *which write set it last*, and a read
 * tells that write by its `updatedAt`: the leader stamps a write while
 * handling it, so the stamp lies inside the write's call interval (one
 * clock: every node runs on the same machine). That identifies the write
 * without doubt because of how clients write (`checkWriteDiscipline`): a
 * key is written by one client, one write at a time, with a clock tick
 * between them, and a write of unknown outcome is the key's last (its
 * interval never closes). A stamp no write's interval holds, or one that
 * only a failed write's holds, is a value nobody wrote: the checker then
 * reports the key as violating.
 */
import {
  checkLinearizable,
  type HistoryOp,
  type LinearizabilityResult,
} from "../../raft/sim/linearizability.ts";

/** ok: acknowledged; fail: surely not applied; unknown: may or may not have been. */
export type Outcome = "ok" | "fail" | "unknown";

export interface WriteRecord {
  readonly kind: "write";
  readonly client: number;
  /** The secret's name. */
  readonly key: string;
  /** Wall-clock ms (Date.now) before the request went out. */
  readonly invokedAt: number;
  /** Wall-clock ms when the answer came; null when the outcome is unknown. */
  readonly completedAt: number | null;
  readonly outcome: Outcome;
  /** What the client saw (status, curl's exit), for reports. */
  readonly detail: string;
}

export interface ReadRecord {
  readonly kind: "read";
  readonly client: number;
  readonly invokedAt: number;
  readonly completedAt: number;
  /** Every listed secret of the test: name → updatedAt in ms. */
  readonly seen: Readonly<Record<string, number>>;
  /** Where the read came from (a client's node, or a node's final state). */
  readonly via: string;
}

export type ClientRecord = WriteRecord | ReadRecord;

/** The write a read's stamp names, or why none does. */
export type Explained =
  | { readonly kind: "write"; readonly value: string }
  | { readonly kind: "failed-write"; readonly value: string }
  | { readonly kind: "nobody"; readonly value: string };

/** One key's writes in call order, with the value each one stands for. */
interface KeyWrites {
  readonly writes: readonly (WriteRecord & { readonly value: string })[];
}

/** Throws unless the writes follow the discipline the model relies on. */
export function checkWriteDiscipline(records: readonly ClientRecord[]): void {
  for (const [key, { writes }] of writesByKey(records)) {
    for (const [i, w] of writes.entries()) {
      const before = writes[i - 1];
      if (before === undefined) continue;
      if (before.client !== w.client) {
        throw new Error(
          `${key} is written by clients ${before.client} and ${w.client}`,
        );
      }
      if (before.completedAt === null) {
        throw new Error(
          `${key} is written again after a write of unknown outcome`,
        );
      }
      if (w.invokedAt <= before.completedAt) {
        throw new Error(
          `${key}: a write at ${w.invokedAt} does not follow the one that ended at ${before.completedAt} by a tick`,
        );
      }
    }
  }
}

function writesByKey(
  records: readonly ClientRecord[],
): Map<string, KeyWrites> {
  const byKey = new Map<string, (WriteRecord & { value: string })[]>();
  for (const r of records) {
    if (r.kind !== "write") continue;
    const list = byKey.get(r.key) ?? [];
    list.push({ ...r, value: `${r.key}#${list.length + 1}` });
    byKey.set(r.key, list);
  }
  for (const list of byKey.values()) {
    list.sort((a, b) => a.invokedAt - b.invokedAt);
    list.forEach((w, i) => (w.value = `${w.key}#${i + 1}`));
  }
  return new Map([...byKey].map(([k, writes]) => [k, { writes }]));
}

/** The write whose call interval holds `stampMs`. */
function explain(writes: KeyWrites, key: string, stampMs: number): Explained {
  const w = writes.writes.find((w) =>
    w.invokedAt <= stampMs &&
    stampMs <= (w.completedAt ?? Number.POSITIVE_INFINITY)
  );
  if (w === undefined) {
    return { kind: "nobody", value: `${key}@${stampMs}:written-by-nobody` };
  }
  return w.outcome === "fail"
    ? { kind: "failed-write", value: `${w.value}:failed` }
    : { kind: "write", value: w.value };
}

export interface Translation {
  readonly history: HistoryOp[];
  /** Read stamps no write explains (each one also makes its key a violation). */
  readonly unexplained: readonly {
    readonly read: ReadRecord;
    readonly key: string;
    readonly explained: Explained;
  }[];
}

/**
 * The checker's history: a put per write that was not surely refused
 * (unknown ones with no return), and per read a get of every key it may
 * tell something about (a key read before its first write only if the read
 * saw it).
 */
export function toCheckerHistory(
  records: readonly ClientRecord[],
): Translation {
  checkWriteDiscipline(records);
  const byKey = writesByKey(records);
  const history: HistoryOp[] = [];
  const unexplained: Translation["unexplained"][number][] = [];
  for (const [key, { writes }] of byKey) {
    for (const w of writes) {
      if (w.outcome === "fail") continue;
      history.push({
        client: w.client,
        op: { op: "put", key, value: w.value },
        invokedAt: w.invokedAt,
        returnedAt: w.outcome === "ok" ? w.completedAt : null,
        output: w.outcome === "ok" ? "ok" : undefined,
      });
    }
  }
  for (const r of records) {
    if (r.kind !== "read") continue;
    for (const name of Object.keys(r.seen)) {
      if (!byKey.has(name)) {
        unexplained.push({
          read: r,
          key: name,
          explained: { kind: "nobody", value: `${name}:never-written` },
        });
      }
    }
    for (const [key, writes] of byKey) {
      const stamp = r.seen[key];
      if (stamp === undefined && r.completedAt < writes.writes[0]!.invokedAt) {
        continue;
      }
      let output: string | null = null;
      if (stamp !== undefined) {
        const explained = explain(writes, key, stamp);
        if (explained.kind !== "write") {
          unexplained.push({ read: r, key, explained });
        }
        output = explained.value;
      }
      history.push({
        client: r.client,
        op: { op: "get", key },
        invokedAt: r.invokedAt,
        returnedAt: r.completedAt,
        output,
      });
    }
  }
  return { history, unexplained };
}

/** An acknowledged write the final state does not hold (or holds an older write over). */
export interface LostWrite {
  readonly key: string;
  readonly acknowledged: string;
  readonly final: string | null;
}

/**
 * Every key's last acknowledged write must be what `final` (a converged
 * node's secrets) holds, or a later write of unknown outcome.
 */
export function lostWrites(
  records: readonly ClientRecord[],
  final: Readonly<Record<string, number>>,
): LostWrite[] {
  const lost: LostWrite[] = [];
  for (const [key, writes] of writesByKey(records)) {
    const ackIndex = writes.writes.findLastIndex((w) => w.outcome === "ok");
    if (ackIndex < 0) continue;
    const stamp = final[key];
    const acknowledged = writes.writes[ackIndex]!.value;
    if (stamp === undefined) {
      lost.push({ key, acknowledged, final: null });
      continue;
    }
    const explained = explain(writes, key, stamp);
    const finalIndex = writes.writes.findIndex((w) =>
      w.value === explained.value
    );
    if (explained.kind !== "write" || finalIndex < ackIndex) {
      lost.push({ key, acknowledged, final: explained.value });
    }
  }
  return lost;
}

export interface Verdict {
  readonly linearizability: LinearizabilityResult;
  readonly unexplained: Translation["unexplained"];
  readonly lost: readonly LostWrite[];
  readonly counts: Readonly<Record<string, number>>;
}

/**
 * The whole judgement: linearizability of the client reads and writes
 * plus a final read of the converged state after every other op, and the
 * acknowledged writes that state lost.
 */
export function judgeHistory(
  records: readonly ClientRecord[],
  final: Readonly<Record<string, number>>,
  stepsMax?: number,
): Verdict {
  const lastTime = Math.max(
    0,
    ...records.map((r) => r.completedAt ?? r.invokedAt),
  );
  const finalRead: ReadRecord = {
    kind: "read",
    client: -1,
    invokedAt: lastTime + 1,
    completedAt: lastTime + 2,
    seen: final,
    via: "final state",
  };
  const all = [...records, finalRead];
  const { history, unexplained } = toCheckerHistory(all);
  const counts: Record<string, number> = {};
  for (const r of records) {
    const name = r.kind === "write" ? `write.${r.outcome}` : "read.ok";
    counts[name] = (counts[name] ?? 0) + 1;
  }
  counts.keys = new Set(
    records.flatMap((r) => r.kind === "write" ? [r.key] : []),
  ).size;
  return {
    linearizability: checkLinearizable(history, stepsMax),
    unexplained,
    lost: lostWrites(records, final),
    counts,
  };
}

/** A violation's ops, one a line, times relative to `originMs`. */
export function describeOps(
  ops: readonly HistoryOp[],
  originMs: number,
): string {
  const at = (t: number | null) => t === null ? "…" : `${t - originMs}`;
  return [...ops]
    .sort((a, b) => a.invokedAt - b.invokedAt)
    .map((o) => {
      const what = o.op.op === "put"
        ? `put ${o.op.value}`
        : `get → ${o.output === null ? "absent" : String(o.output)}`;
      const who = o.client < 0 ? "final" : `client ${o.client}`;
      return `  [${at(o.invokedAt)}, ${at(o.returnedAt)}] ms ${who}: ${what}${
        o.op.op === "put" && o.returnedAt === null ? " (unknown outcome)" : ""
      }`;
    })
    .join("\n");
}

/** Ops of a violation shown when no single read stands out. */
const SHOWN_OPS_MAX = 60;

/**
 * A violation made readable: the key's writes, then the reads that missed
 * a write acknowledged before they began (or saw a value nobody wrote);
 * when none does (an inversion between reads, say), the key's first ops.
 */
export function describeViolation(
  ops: readonly HistoryOp[],
  originMs: number,
): string {
  const writes = ops.filter((o) => o.op.op === "put");
  const order = (value: unknown): number | null => {
    if (value === null) return 0;
    const match = /#(\d+)$/.exec(String(value));
    return match === null ? null : Number(match[1]);
  };
  const odd = ops.filter((o) => {
    if (o.op.op !== "get") return false;
    const seen = order(o.output);
    if (seen === null) return true;
    return writes.some((w) =>
      w.returnedAt !== null && w.returnedAt < o.invokedAt &&
      w.op.op === "put" && order(w.op.value)! > seen
    );
  });
  if (odd.length > 0) {
    return `writes:\n${describeOps(writes, originMs)}\n` +
      `reads that miss a write acknowledged before they began, or see a value nobody wrote:\n${
        describeOps(odd.slice(0, 10), originMs)
      }${odd.length > 10 ? `\n  … and ${odd.length - 10} more` : ""}`;
  }
  const sorted = [...ops].sort((a, b) => a.invokedAt - b.invokedAt);
  return `${describeOps(sorted.slice(0, SHOWN_OPS_MAX), originMs)}${
    sorted.length > SHOWN_OPS_MAX
      ? `\n  … and ${sorted.length - SHOWN_OPS_MAX} more`
      : ""
  }`;
}
