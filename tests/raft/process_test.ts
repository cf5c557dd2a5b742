/**
 * Three kv_server processes on loopback with real data directories, killed
 * with SIGKILL mid-stream. After every node restarts, every acknowledged
 * write must be on every node, no write applied twice, and all histories
 * identical.
 */
import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import { ProcessCluster, waitFor, Writers } from "./process_cluster.ts";

const WRITERS = 8;
const ACKS_PER_PHASE = 200;
/** Kill/restart rounds per test. */
const ROUNDS = 3;
const CLUSTER = { tickMs: 50, snapshotEvery: 250 };

async function put(
  cluster: ProcessCluster,
  id: string,
  key: string,
  value: string,
): Promise<number | null> {
  try {
    const response = await fetch(`${cluster.urls.get(id)}/kv/put`, {
      method: "POST",
      body: JSON.stringify({ key, value }),
      signal: AbortSignal.timeout(3_000),
    });
    const body = await response.json() as { index?: number };
    return response.ok && typeof body.index === "number" ? body.index : null;
  } catch (_err) {
    return null; // the caller retries under its deadline
  }
}

/** A fresh write through the leader, then every node applied past it. */
async function settle(cluster: ProcessCluster): Promise<void> {
  const index = await waitFor("a barrier write", async () => {
    const leader = await cluster.findLeader();
    return leader === null
      ? null
      : await put(cluster, leader, "barrier", crypto.randomUUID());
  });
  await waitFor("every node to apply the barrier", async () => {
    const statuses = await Promise.all(
      cluster.ids.map((id) => cluster.status(id)),
    );
    return statuses.every((s) => s !== null && s.applied >= index)
      ? true
      : null;
  });
}

async function restartAll(cluster: ProcessCluster): Promise<void> {
  for (const id of cluster.ids) await cluster.kill(id);
  for (const id of cluster.ids) await cluster.start(id);
}

async function checkHistories(
  cluster: ProcessCluster,
  writers: Writers,
): Promise<void> {
  await settle(cluster);
  const histories = await Promise.all(
    cluster.ids.map((id) => cluster.history(id)),
  );
  const reference = histories[0];
  assert(reference !== null && reference !== undefined);
  for (const [i, history] of histories.entries()) {
    const id = cluster.ids[i]!;
    assert(history !== null, `no history from ${id}`);
    const values = history.history.map((h) => h.value);
    assertEquals(
      new Set(values).size,
      values.length,
      `${id} applied a write twice`,
    );
    const present = new Set(values);
    const missing = [...writers.acked].filter((v) => !present.has(v));
    assertEquals(missing, [], `${id} lost acknowledged writes`);
    const indexes = history.history.map((h) => h.index);
    assert(
      indexes.every((index, j) => j === 0 || index > indexes[j - 1]!),
      `${id} applied out of order`,
    );
    assertEquals(
      history.history,
      reference.history,
      `${id} diverged from ${cluster.ids[0]}`,
    );
  }
  assert(writers.acked.size >= 2 * ACKS_PER_PHASE);
}

async function withCluster(
  fn: (cluster: ProcessCluster, writers: Writers) => Promise<void>,
): Promise<void> {
  const cluster = await ProcessCluster.create(CLUSTER);
  const writers = new Writers(cluster, WRITERS);
  try {
    for (const id of cluster.ids) await cluster.start(id);
    await cluster.leader();
    writers.start();
    await writers.waitForAcks(ACKS_PER_PHASE);
    await fn(cluster, writers);
    await writers.stop();
    assertEquals(cluster.crashed(), [], "a node crashed on its own");
    await restartAll(cluster);
    await checkHistories(cluster, writers);
  } catch (err) {
    // In the error itself: the suite runs with --quiet, which hides output.
    const tails: string[] = [];
    for (const id of cluster.ids) {
      tails.push(`--- ${id} stderr ---\n${await cluster.logTail(id)}`);
    }
    throw new Error(`${(err as Error).message}\n${tails.join("\n")}`, {
      cause: err,
    });
  } finally {
    await writers.stop();
    await cluster.close();
  }
}

/** Copies a live data directory the way a file-level backup would: hard state, WAL, then snapshots. */
async function copyLiveDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(`${to}/wal`, { recursive: true });
  await Deno.mkdir(`${to}/snap`, { recursive: true });
  const copy = async (name: string) => {
    try {
      await Deno.copyFile(`${from}/${name}`, `${to}/${name}`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err; // compacted away meanwhile
    }
  };
  await copy("hardstate");
  const segments = [...Deno.readDirSync(`${from}/wal`)].map((e) => e.name)
    .sort();
  for (const name of segments) await copy(`wal/${name}`);
  for (const entry of Deno.readDirSync(`${from}/snap`)) {
    await copy(`snap/${entry.name}`);
  }
}

Deno.test({
  name:
    "raft processes keep every acknowledged write when the leader is killed with SIGKILL mid-stream",
  fn: async () => {
    await withCluster(async (cluster, writers) => {
      for (let round = 0; round < ROUNDS; round++) {
        const leader = await cluster.leader();
        await cluster.kill(leader);
        const next = await cluster.leader(leader);
        assert(next !== leader);
        await writers.waitForAcks(writers.acked.size + ACKS_PER_PHASE);
        await cluster.start(leader);
      }
    });
  },
});

Deno.test({
  name:
    "raft processes keep every acknowledged write when a follower is killed with SIGKILL mid-stream",
  fn: async () => {
    await withCluster(async (cluster, writers) => {
      for (let round = 0; round < ROUNDS; round++) {
        const leader = await cluster.leader();
        const follower = cluster.ids.find((id) => id !== leader)!;
        await cluster.kill(follower);
        await writers.waitForAcks(writers.acked.size + ACKS_PER_PHASE);
        await cluster.start(follower);
        await writers.waitForAcks(writers.acked.size + ACKS_PER_PHASE);
      }
    });
  },
});

Deno.test({
  name:
    "a raft process restored from a copy of its data directory taken mid-run catches up without harming the others",
  fn: async () => {
    await withCluster(async (cluster, writers) => {
      const leader = await cluster.leader();
      const follower = cluster.ids.find((id) => id !== leader)!;
      const backup = `${cluster.root}/backup-${follower}`;
      await copyLiveDir(cluster.dataDir(follower), backup);
      // Past a compaction, so the restored node needs an InstallSnapshot.
      await writers.waitForAcks(writers.acked.size + 2 * CLUSTER.snapshotEvery);
      await cluster.kill(follower);
      await Deno.remove(cluster.dataDir(follower), { recursive: true });
      await Deno.rename(backup, cluster.dataDir(follower));
      await cluster.start(follower);
      await writers.waitForAcks(writers.acked.size + ACKS_PER_PHASE);
      const restored = await cluster.status(follower);
      assert(
        restored !== null && restored.snapshotIndex >= CLUSTER.snapshotEvery,
        "caught up through a snapshot",
      );
    });
  },
});
