import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { apply } from "./apply.ts";
import { canonicalJson } from "./canonical_json.ts";
import {
  decodeStatePayload,
  encodeStatePayload,
  stateToDocument,
} from "./codec.ts";
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

/** A frame built independently, with Web Crypto's SHA-256. */
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

function refusedWith(bytes: Uint8Array, code: SnapshotErrorCode): string {
  try {
    decodeSnapshot(bytes);
  } catch (error) {
    if (!(error instanceof SnapshotError)) throw error;
    strictEqual(error.code, code, error.message);
    return error.message;
  }
  throw new Error(`expected ${code}, the snapshot was accepted`);
}

Deno.test("a snapshot of a random state matches a Web Crypto frame, restores it and re-encodes byte for byte", async () => {
  for (const seed of testSeeds(10)) {
    try {
      const state = randomState(seed, 400);
      const bytes = encodeSnapshot(state);
      deepStrictEqual(bytes, await frame(encodeStatePayload(state)));
      const restored = decodeSnapshot(bytes);
      deepStrictEqual(stateToDocument(restored), stateToDocument(state));
      deepStrictEqual(checkInvariants(restored), []);
      deepStrictEqual(encodeSnapshot(restored), bytes);
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

/**
 * Snapshots written before the codec became synchronous (Web Crypto's
 * SHA-256): the empty state whole, and the header of `baseState()`'s.
 */
const EMPTY_STATE_SNAPSHOT_HEX = "4d494c4c46534d0a00000001" +
  "dbc610090acfbb1970b9090c6bd6d19ed8f609070745d36ce8fc9a29b15dffc5" +
  "7b22616c6c6f6373223a5b5d2c22636f6e666967223a7b227365727669636573" +
  "223a7b7d2c227461736b73223a7b7d7d2c226465706c6f7973223a5b5d2c226e" +
  "6f646573223a5b5d2c2273656372657473223a5b5d2c22766f6c756d6573223a" +
  "5b5d7d";
const BASE_STATE_HEADER_HEX = "4d494c4c46534d0a00000001" +
  "a62df497bbb4e2320728cd3ced73e7a65ac79f03f9aac8a8a4d6af71765258c9";

Deno.test("a snapshot written by an earlier mill decodes and re-encodes to the same bytes", () => {
  const old = Uint8Array.fromHex(EMPTY_STATE_SNAPSHOT_HEX);
  const restored = decodeSnapshot(old);
  deepStrictEqual(stateToDocument(restored), stateToDocument(emptyState()));
  deepStrictEqual(encodeSnapshot(restored), old);
  strictEqual(
    encodeSnapshot(baseState()).subarray(0, 44).toHex(),
    BASE_STATE_HEADER_HEX,
  );
});

Deno.test("a node recorded before endpoints were typed gets them from its mill.peer and mill.api labels", () => {
  const state = baseState();
  const document = stateToDocument(state);
  const legacy = {
    ...document,
    nodes: document.nodes.map(({ endpoints: _endpoints, ...node }, i) => ({
      ...node,
      labels: i === 0
        ? { "mill.peer": "10.0.0.1:7946", "mill.api": "https://10.0.0.1:7443" }
        : {},
    })),
  };
  const decoded = decodeStatePayload(canonicalJson(legacy));
  strictEqual(decoded.ok, true, decoded.ok ? "" : decoded.message);
  if (!decoded.ok) return;
  const [first, second] = [...decoded.state.nodes.values()];
  deepStrictEqual(first?.endpoints, {
    peer: "10.0.0.1:7946",
    api: "https://10.0.0.1:7443",
  });
  deepStrictEqual(second?.endpoints, { peer: null, api: null });
});

Deno.test("a snapshot of a busy cluster restores allocs, volumes, secrets and deploys", () => {
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
  const restored = decodeSnapshot(encodeSnapshot(state));
  deepStrictEqual(restored.allocs.get("web-1"), state.allocs.get("web-1"));
  deepStrictEqual(restored.volumes.get("pgdata"), state.volumes.get("pgdata"));
  deepStrictEqual(restored.secrets.get("db.url"), state.secrets.get("db.url"));
  deepStrictEqual(restored.deploys, state.deploys);
  deepStrictEqual(restored.config, state.config);
  strictEqual(restored.nodes.get("n1")?.cpuMillisReserved, 500);
});

Deno.test("decodeSnapshot() refuses damaged or foreign snapshots with a typed error", async (t) => {
  const good = encodeSnapshot(baseState());
  await t.step("a flipped payload byte fails the checksum", () => {
    const bad = good.slice();
    bad[bad.length - 5]! ^= 0x01;
    refusedWith(bad, "snapshot.checksum_mismatch");
  });
  await t.step("a flipped checksum byte fails the checksum", () => {
    const bad = good.slice();
    bad[20]! ^= 0x80;
    refusedWith(bad, "snapshot.checksum_mismatch");
  });
  await t.step("a cut-off payload fails the checksum", () => {
    refusedWith(
      good.slice(0, good.length - 10),
      "snapshot.checksum_mismatch",
    );
  });
  await t.step("a cut-off header is truncated", () => {
    refusedWith(good.slice(0, 20), "snapshot.truncated");
  });
  await t.step("another file's bytes are not a mill snapshot", () => {
    const bad = good.slice();
    bad.set(new TextEncoder().encode("PK\x03\x04"), 0);
    refusedWith(bad, "snapshot.bad_magic");
  });
  await t.step(
    "a future version is refused, naming both versions",
    async () => {
      const future = await frame(
        encodeStatePayload(baseState()),
        SNAPSHOT_VERSION + 1,
      );
      const message = refusedWith(future, "snapshot.unsupported_version");
      strictEqual(message.includes(`version ${SNAPSHOT_VERSION + 1}`), true);
    },
  );
  await t.step(
    "a checksummed payload that is not JSON is refused",
    async () => {
      refusedWith(await frame("{not json"), "snapshot.invalid_payload");
    },
  );
  await t.step(
    "a checksummed payload of the wrong shape is refused",
    async () => {
      refusedWith(
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
      const message = refusedWith(
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
      refusedWith(
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
      refusedWith(await frame(pretty), "snapshot.invalid_payload");
    },
  );
});
