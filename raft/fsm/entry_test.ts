import { strictEqual } from "node:assert/strict";
import type { Entry } from "../types.ts";
import { encodeCommand } from "./codec.ts";
import { applyEntry } from "./entry.ts";
import { baseState, scheduled } from "./fixtures_testing.ts";

function entry(kind: Entry["kind"], data: Uint8Array): Entry {
  return { index: 7, term: 2, kind, data };
}

Deno.test("applyEntry() applies a command entry", () => {
  const result = applyEntry(
    baseState(),
    entry("command", encodeCommand(scheduled("web-1", "n1"))),
  );
  strictEqual(result.outcome, "applied");
  strictEqual(result.state.allocs.has("web-1"), true);
});

Deno.test("applyEntry() reports a refused command and keeps the state", () => {
  const state = baseState();
  const result = applyEntry(
    state,
    entry("command", encodeCommand(scheduled("web-1", "n9"))),
  );
  strictEqual(result.outcome, "rejected");
  strictEqual(result.state, state);
  strictEqual(
    result.outcome === "rejected" && result.rejection.code,
    "node.unknown",
  );
});

Deno.test("applyEntry() reports bytes that are not a command", () => {
  const result = applyEntry(
    baseState(),
    entry("command", new TextEncoder().encode("garbage")),
  );
  strictEqual(result.outcome === "rejected" && result.command, null);
  strictEqual(
    result.outcome === "rejected" && result.rejection.code,
    "command.invalid",
  );
});

Deno.test("applyEntry() skips Raft's own noop and membership entries", () => {
  const state = baseState();
  strictEqual(
    applyEntry(state, entry("noop", new Uint8Array())).outcome,
    "skipped",
  );
  strictEqual(
    applyEntry(state, entry("membership", new Uint8Array([1]))).state,
    state,
  );
});
