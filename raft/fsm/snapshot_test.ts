import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { apply } from "./apply.ts";
import { canonicalJson } from "./canonical_json.ts";
import { encodeStatePayload, stateToDocument } from "./codec.ts";
import { baseState, scheduled, toHealthy } from "./fixtures_testing.ts";
import { GENERATED_CONFIGS, randomCommand } from "./generate_testing.ts";
import { checkInvariants } from "./invariants.ts";
import { testSeeds } from "./seed_testing.ts";
import {
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_MAGIC,
  SNAPSHOT_VERSION,
  SnapshotError,
  type SnapshotErrorCode,
} from "./snapshot.ts";
import { type ClusterState, emptyState } from "./state.ts";
import { GIB, registerNode, Rng, stateFrom } from "./testing.ts";

function randomState(seed: number, steps: number): ClusterState {
  const rng = new Rng(seed);
  // Start from a cluster that has room, so the random commands fill it.
  let state = rng.bool(0.2) ? emptyState() : stateFrom([
    ...[1, 2, 3, 4, 5, 6].map((n) =>
      registerNode(n, { cpuMillis: 64_000, memoryBytes: 256 * GIB })
    ),
    {
      type: "Deploy",
      deployId: "d0",
      config: rng.pick(GENERATED_CONFIGS),
      atMs: 1,
    },
  ]);
  for (let step = 0; step < steps; step++) {
    const applied = apply(state, randomCommand(rng, state, step));
    if (applied.ok) state = applied.state;
  }
  return state;
}

async function frame(
  payload: string,
  version = SNAPSHOT_VERSION,
): Promise<Uint8Array> {
  const body = new TextEncoder().encode(payload);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  const bytes = new Uint8Array(44 + body.length);
  bytes.set(new TextEncoder().encode(SNAPSHOT_MAGIC), 0);
  new DataView(bytes.buffer).setUint32(8, version);
  bytes.set(digest, 12);
  bytes.set(body, 44);
  return bytes;
}

async function refusedWith(
  bytes: Uint8Array,
  code: SnapshotErrorCode,
): Promise<string> {
  try {
    await decodeSnapshot(bytes);
  } catch (error) {
    if (!(error instanceof SnapshotError)) throw error;
    strictEqual(error.code, code, error.message);
    return error.message;
  }
  throw new Error(`expected ${code}, the snapshot was accepted`);
}

Deno.test("a snapshot of a random state restores it and re-encodes byte for byte", async () => {
  for (const seed of testSeeds(10)) {
    try {
      const state = randomState(seed, 400);
      const bytes = await encodeSnapshot(state);
      const restored = await decodeSnapshot(bytes);
      deepStrictEqual(stateToDocument(restored), stateToDocument(state));
      deepStrictEqual(checkInvariants(restored), []);
      deepStrictEqual(await encodeSnapshot(restored), bytes);
      // Usage counters are rebuilt, not stored: they must match exactly.
      for (const node of state.nodes.values()) {
        deepStrictEqual(restored.nodes.get(node.id), node);
      }
    } catch (error) {
      throw new Error(`${error}\nreproduce with MILL_SEED=${seed}`, {
        cause: error,
      });
    }
  }
});

Deno.test("a snapshot of a busy cluster restores allocs, volumes, secrets and deploys", async () => {
  const state = stateFrom([
    scheduled("web-1", "n1", "web", { hostPort: 20000 }),
    ...toHealthy("web-1", "10.0.0.1:20000"),
    scheduled("postgres-1", "n2", "postgres", { hostPort: 20000 }),
    {
      type: "SecretSet",
      name: "db.url",
      ciphertext: "AAAA",
      nonce: "BBBB",
      atMs: 9,
    },
  ], baseState());
  const restored = await decodeSnapshot(await encodeSnapshot(state));
  deepStrictEqual(restored.allocs.get("web-1"), state.allocs.get("web-1"));
  deepStrictEqual(restored.volumes.get("pgdata"), state.volumes.get("pgdata"));
  deepStrictEqual(restored.secrets.get("db.url"), state.secrets.get("db.url"));
  deepStrictEqual(restored.deploys, state.deploys);
  deepStrictEqual(restored.config, state.config);
  strictEqual(restored.nodes.get("n1")?.cpuMillisReserved, 500);
});

Deno.test("decodeSnapshot() refuses damaged or foreign snapshots with a typed error", async (t) => {
  const good = await encodeSnapshot(baseState());
  await t.step("a flipped payload byte fails the checksum", async () => {
    const bad = good.slice();
    bad[bad.length - 5]! ^= 0x01;
    await refusedWith(bad, "snapshot.checksum_mismatch");
  });
  await t.step("a flipped checksum byte fails the checksum", async () => {
    const bad = good.slice();
    bad[20]! ^= 0x80;
    await refusedWith(bad, "snapshot.checksum_mismatch");
  });
  await t.step("a cut-off payload fails the checksum", async () => {
    await refusedWith(
      good.slice(0, good.length - 10),
      "snapshot.checksum_mismatch",
    );
  });
  await t.step("a cut-off header is truncated", async () => {
    await refusedWith(good.slice(0, 20), "snapshot.truncated");
  });
  await t.step("another file's bytes are not a mill snapshot", async () => {
    const bad = good.slice();
    bad.set(new TextEncoder().encode("PK\x03\x04"), 0);
    await refusedWith(bad, "snapshot.bad_magic");
  });
  await t.step(
    "a future version is refused, naming both versions",
    async () => {
      const future = await frame(
        encodeStatePayload(baseState()),
        SNAPSHOT_VERSION + 1,
      );
      const message = await refusedWith(future, "snapshot.unsupported_version");
      strictEqual(message.includes(`version ${SNAPSHOT_VERSION + 1}`), true);
    },
  );
  await t.step(
    "a checksummed payload that is not JSON is refused",
    async () => {
      await refusedWith(await frame("{not json"), "snapshot.invalid_payload");
    },
  );
  await t.step(
    "a checksummed payload of the wrong shape is refused",
    async () => {
      await refusedWith(
        await frame('{"config":1}'),
        "snapshot.invalid_payload",
      );
    },
  );
  await t.step(
    "a checksummed payload that breaks invariants is refused",
    async () => {
      const document = JSON.parse(
        encodeStatePayload(stateFrom([scheduled("web-1", "n1")], baseState())),
      );
      document.allocs[0].nodeId = "n9";
      const message = await refusedWith(
        await frame(canonicalJson(document)),
        "snapshot.invalid_payload",
      );
      strictEqual(message.includes("unknown node"), true);
    },
  );
  await t.step(
    "a checksummed payload with a duplicate node is refused",
    async () => {
      const document = JSON.parse(encodeStatePayload(baseState()));
      document.nodes.push(document.nodes[0]);
      await refusedWith(
        await frame(canonicalJson(document)),
        "snapshot.invalid_payload",
      );
    },
  );
  await t.step(
    "a checksummed payload not in canonical form is refused",
    async () => {
      const pretty = JSON.stringify(
        JSON.parse(encodeStatePayload(baseState())),
        null,
        2,
      );
      await refusedWith(await frame(pretty), "snapshot.invalid_payload");
    },
  );
});
