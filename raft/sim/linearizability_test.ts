import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { checkLinearizable, type HistoryOp } from "./linearizability.ts";

function op(
  client: number,
  invokedAt: number,
  returnedAt: number | null,
  spec: HistoryOp["op"],
  output: HistoryOp["output"],
): HistoryOp {
  return { client, op: spec, invokedAt, returnedAt, output };
}

const put = (value: string) => ({ op: "put" as const, key: "k", value });
const get = { op: "get" as const, key: "k" };
const cas = (expected: string | null, value: string) => ({
  op: "cas" as const,
  key: "k",
  expected,
  value,
});

Deno.test("checkLinearizable() judges hand-made histories", async (t) => {
  const cases: { name: string; history: HistoryOp[]; outcome: string }[] = [
    { name: "an empty history", history: [], outcome: "ok" },
    {
      name: "a read after a completed write sees it",
      history: [op(0, 1, 2, put("a"), "ok"), op(1, 3, 4, get, "a")],
      outcome: "ok",
    },
    {
      name: "a read after a completed write returns the old value",
      history: [op(0, 1, 2, put("a"), "ok"), op(1, 3, 4, get, null)],
      outcome: "violation",
    },
    {
      name: "a read concurrent with a write may see either value",
      history: [
        op(0, 1, 5, put("a"), "ok"),
        op(1, 2, 3, get, null),
        op(2, 2, 4, get, "a"),
      ],
      outcome: "ok",
    },
    {
      name: "reads see a write, then not (new-old inversion)",
      history: [
        op(0, 1, 10, put("a"), "ok"),
        op(1, 2, 3, get, "a"),
        op(2, 4, 5, get, null),
      ],
      outcome: "violation",
    },
    {
      name: "two cas from the same old value both succeed",
      history: [
        op(0, 1, 5, cas(null, "a"), true),
        op(1, 1, 5, cas(null, "b"), true),
      ],
      outcome: "violation",
    },
    {
      name: "a cas that failed while its expectation held",
      history: [op(0, 1, 2, put("a"), "ok"), op(1, 3, 4, cas("a", "b"), false)],
      outcome: "violation",
    },
    {
      name: "a write of unknown outcome may have happened",
      history: [op(0, 1, null, put("a"), undefined), op(1, 5, 6, get, "a")],
      outcome: "ok",
    },
    {
      name: "a write of unknown outcome may not have happened",
      history: [op(0, 1, null, put("a"), undefined), op(1, 5, 6, get, null)],
      outcome: "ok",
    },
    {
      name: "a value nobody wrote is read",
      history: [op(0, 1, null, put("a"), undefined), op(1, 5, 6, get, "zzz")],
      outcome: "violation",
    },
  ];
  for (const { name, history, outcome } of cases) {
    await t.step(
      name,
      () => assertEquals(checkLinearizable(history).outcome, outcome),
    );
  }
});

Deno.test("checkLinearizable() checks keys independently and names the bad one", () => {
  const history: HistoryOp[] = [
    op(0, 1, 2, { op: "put", key: "x", value: "1" }, "ok"),
    op(1, 3, 4, { op: "get", key: "y" }, null),
    op(1, 5, 6, { op: "get", key: "x" }, null),
  ];
  const result = checkLinearizable(history);
  assertEquals(result.outcome, "violation");
  assertEquals(result.outcome === "violation" ? result.key : null, "x");
});

Deno.test("checkLinearizable() gives up as unknown rather than ok past its step bound", () => {
  const history: HistoryOp[] = [];
  for (let i = 0; i < 12; i++) history.push(op(i, 1, 100, put(`v${i}`), "ok"));
  history.push(op(99, 101, 102, get, "nobody"));
  assertEquals(checkLinearizable(history, 50).outcome, "unknown");
  assertEquals(checkLinearizable(history).outcome, "violation");
});
