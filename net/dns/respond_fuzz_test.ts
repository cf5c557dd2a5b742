/**
 * Random bytes and random mutations of valid queries never make the
 * responder throw; whatever it answers is a well-formed DNS response (read
 * back by an independent codec) with the query's id. Honours MILL_SEED; a
 * failure prints `reproduce with MILL_SEED=<n>`.
 */

import { ok, strictEqual } from "node:assert/strict";
import { buildZone } from "./zone.ts";
import { respond, ResponderState } from "./respond.ts";
import { decodeMessage, encodeQuery } from "./_packet.ts";

const RANDOM_INPUTS = 100_000;
const MUTATIONS = 100_000;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(Deno.env.get("MILL_SEED") ?? Date.now() % 1_000_000);

function state(recursion: boolean): ResponderState {
  const s = new ResponderState("mill");
  s.recursionAvailable = recursion;
  s.setZone(buildZone({
    services: [{
      name: "web",
      endpoints: Array.from({ length: 70 }, (_, i) => ({
        allocId: `web-${i}`,
        address: `10.210.0.${i + 2}`,
        port: 8080,
      })),
    }],
    allocs: [],
    nodes: [{ name: "a", address: "10.0.0.1" }],
  }));
  return s;
}

const VALID = [
  encodeQuery(1, "web.mill", "A"),
  encodeQuery(2, "_web._tcp.mill", "SRV", { ednsUdpSize: 4096 }),
  encodeQuery(3, "nope.mill", "AAAA", { ednsUdpSize: 512 }),
  encodeQuery(4, "example.com", "A"),
  encodeQuery(5, "a.node.mill", "ANY"),
];

/** How often each outcome came out: the fuzz must reach every path. */
const outcomes = new Map<string, number>();

function check(input: Uint8Array, s: ResponderState, udp: boolean): void {
  const out = respond(input, udp, s);
  const kind = typeof out === "string" ? out : `rcode ${s.rcode}`;
  outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
  if (out === "drop" || out === "forward") return;
  const decoded = decodeMessage(out);
  strictEqual(decoded.id, (input[0]! << 8) | input[1]!);
  ok(decoded.response, "a response has QR set");
  if (udp) ok(out.length <= 1232, `UDP reply of ${out.length} bytes`);
}

Deno.test(`random bytes never crash the responder (MILL_SEED=${SEED})`, () => {
  const random = rng(SEED);
  const states = [state(true), state(false)];
  let i = 0;
  try {
    for (; i < RANDOM_INPUTS; i++) {
      const length = Math.floor(random() * (i % 10 === 0 ? 700 : 64));
      const input = new Uint8Array(length);
      for (let b = 0; b < length; b++) input[b] = Math.floor(random() * 256);
      // Most random headers are responses or odd opcodes: clear QR/opcode
      // on half of them so the deeper paths get reached too.
      if (length > 3 && i % 2 === 0) input[2]! &= 0x07;
      if (length > 5 && i % 4 === 0) {
        input[4] = 0;
        input[5] = 1;
      }
      check(input, states[i % 2]!, i % 3 !== 0);
    }
  } catch (error) {
    throw new Error(`input ${i}: ${error}; reproduce with MILL_SEED=${SEED}`);
  }
});

Deno.test(`mutated queries never crash the responder (MILL_SEED=${SEED})`, () => {
  const random = rng(SEED + 1);
  const states = [state(true), state(false)];
  let i = 0;
  try {
    for (; i < MUTATIONS; i++) {
      const base = VALID[i % VALID.length]!;
      let input = base.slice();
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const what = random();
        const at = Math.floor(random() * input.length);
        if (what < 0.5) input[at] = Math.floor(random() * 256);
        else if (what < 0.7) input = input.slice(0, at);
        else if (what < 0.85) {
          const extra = new Uint8Array(Math.floor(random() * 20));
          for (let b = 0; b < extra.length; b++) {
            extra[b] = Math.floor(random() * 256);
          }
          const grown = new Uint8Array(input.length + extra.length);
          grown.set(input.subarray(0, at));
          grown.set(extra, at);
          grown.set(input.subarray(at), at + extra.length);
          input = grown;
        } else input[at]! ^= 1 << Math.floor(random() * 8);
      }
      check(input, states[(i >> 1) % 2]!, i % 2 === 0);
    }
  } catch (error) {
    throw new Error(
      `mutation ${i}: ${error}; reproduce with MILL_SEED=${SEED}`,
    );
  }
});

Deno.test("the fuzz reached drops, forwards and every rcode", () => {
  for (
    const kind of [
      "drop",
      "forward",
      "rcode 0",
      "rcode 1",
      "rcode 2",
      "rcode 3",
      "rcode 4",
      "rcode 5",
      "rcode 16",
    ]
  ) {
    ok(
      (outcomes.get(kind) ?? 0) > 0,
      `${kind}: ${JSON.stringify([...outcomes])}`,
    );
  }
});

Deno.test("the valid queries get the answers the fuzz starts from", () => {
  const s = state(true);
  const a = respond(VALID[0]!, true, s);
  ok(a instanceof Uint8Array);
  const decoded = decodeMessage(a);
  ok(decoded.truncated, "70 A records do not fit 512 bytes");
  ok(decoded.answers.length > 10 && decoded.answers.length < 70);
  strictEqual(respond(VALID[3]!, true, s), "forward");
  const tcp = respond(VALID[0]!, false, s);
  ok(tcp instanceof Uint8Array);
  strictEqual(decodeMessage(tcp).answers.length, 70);
});
