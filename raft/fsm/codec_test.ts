import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { canonicalJson } from "./canonical_json.ts";
import { apply } from "./apply.ts";
import { decodeCommand, encodeCommand } from "./codec.ts";
import type { Command } from "./command.ts";
import { baseConfig, baseState, scheduled } from "./fixtures_testing.ts";
import { COMMAND_BYTES_MAX } from "./limits.ts";
import { testSeeds, withSeed } from "./seed_testing.ts";
import { registerNode, Rng, stateFrom } from "./testing.ts";

const encoder = new TextEncoder();

Deno.test("canonicalJson() sorts keys and drops undefined members", () => {
  strictEqual(
    canonicalJson({ b: 1, a: [true, null, { d: undefined, c: "x" }] }),
    '{"a":[true,null,{"c":"x"}],"b":1}',
  );
});

Deno.test("encodeCommand() and decodeCommand() round-trip every kind of command", () => {
  const commands: Command[] = [
    { type: "Deploy", deployId: "d1", config: baseConfig, atMs: 1 },
    registerNode(1, { labels: { zone: "eu" } }),
    scheduled("web-1", "n1", "web", { hostPort: 20001 }),
    {
      type: "NodeHeartbeat",
      nodeId: "n1",
      statuses: [{ allocId: "a", status: "failed", exitCode: 1 }],
      atMs: 2,
    },
    {
      type: "SecretSet",
      name: "db.url",
      ciphertext: "AAAA",
      nonce: "BBBB",
      atMs: 3,
    },
    {
      type: "VolumeCreated",
      name: "pgdata",
      cloudId: "vol-1",
      sizeBytes: 10,
      atMs: 4,
    },
  ];
  for (const command of commands) {
    const decoded = decodeCommand(encodeCommand(command));
    strictEqual(decoded.ok, true);
    deepStrictEqual(decoded.ok && decoded.command, command);
  }
});

Deno.test("decodeCommand() refuses malformed entries with a reason", async (t) => {
  const cases: [string, string, string][] = [
    ["bytes that are not JSON", "{nope", "command.invalid"],
    ["JSON that is not an object", "42", "command.invalid"],
    ["an object without a type", '{"atMs":1}', "command.invalid"],
    ["an unknown type", '{"type":"Explode","atMs":1}', "command.unknown_type"],
    ["a missing field", '{"type":"NodeDrain","atMs":1}', "command.invalid"],
    [
      "a field of the wrong type",
      '{"type":"NodeDrain","nodeId":7,"atMs":1}',
      "command.invalid",
    ],
    [
      "a negative time",
      '{"type":"NodeDrain","nodeId":"n1","atMs":-1}',
      "command.invalid",
    ],
    [
      "an unknown field",
      '{"type":"NodeDrain","nodeId":"n1","atMs":1,"extra":true}',
      "command.invalid",
    ],
    [
      "a bad status",
      '{"type":"AllocStatus","allocId":"a","status":"zombie","atMs":1}',
      "command.invalid",
    ],
    [
      "a config with a bad service",
      '{"type":"Deploy","deployId":"d","atMs":1,"config":{"services":{"x":{"kind":"service"}},"tasks":{}}}',
      "command.invalid",
    ],
  ];
  for (const [name, text, code] of cases) {
    await t.step(name, () => {
      const decoded = decodeCommand(encoder.encode(text));
      strictEqual(decoded.ok, false);
      strictEqual(!decoded.ok && decoded.rejection.code, code);
    });
  }
  await t.step("invalid UTF-8", () => {
    strictEqual(decodeCommand(new Uint8Array([0xff, 0xfe])).ok, false);
  });
  await t.step("an entry over the size limit", () => {
    strictEqual(decodeCommand(new Uint8Array(COMMAND_BYTES_MAX + 1)).ok, false);
  });
});

Deno.test("decodeCommand() and apply() never throw on damaged entries", () => {
  const state = stateFrom([scheduled("web-1", "n1")], baseState());
  const valid: Command[] = [
    scheduled("web-2", "n2", "web", { hostPort: 20001 }),
    { type: "AllocStatus", allocId: "web-1", status: "starting", atMs: 1 },
    {
      type: "NodeHeartbeat",
      nodeId: "n1",
      statuses: [{ allocId: "web-1", status: "starting" }],
      atMs: 2,
    },
    registerNode(4, { labels: { zone: "eu" } }),
    { type: "Deploy", deployId: "d9", config: baseConfig, atMs: 3 },
    { type: "VolumeAttached", name: "pgdata", nodeId: "n2", atMs: 4 },
  ];
  const tempting = [0x30, 0x31, 0x2d, 0x22, 0x7b, 0x65, 0x2e];
  for (const seed of testSeeds(5)) {
    withSeed(seed, () => {
      const rng = new Rng(seed);
      let decodedCount = 0;
      for (let round = 0; round < 3000; round++) {
        const bytes = encodeCommand(rng.pick(valid));
        for (let flips = rng.int(1, 3); flips > 0; flips--) {
          bytes[rng.int(0, bytes.length - 1)] = rng.bool()
            ? rng.pick(tempting)
            : rng.int(0, 255);
        }
        const decoded = decodeCommand(bytes);
        if (!decoded.ok) continue;
        decodedCount++;
        apply(state, decoded.command);
      }
      if (decodedCount === 0) throw new Error("no damaged entry decoded");
    });
  }
});
