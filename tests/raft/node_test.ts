import {
  deepStrictEqual as assertEquals,
  ok as assert,
  rejects,
} from "node:assert/strict";
import { RaftError, RaftNode } from "../../raft/node.ts";
import { MESSAGES_PATH, SNAPSHOT_PATH } from "../../raft/transport.ts";
import { encodeBatch } from "../../raft/transport_codec.ts";
import type { Message } from "../../raft/types.ts";
import { encodeKvWrite, KvStateMachine } from "./kv_fsm.ts";

const IDS = ["n1", "n2", "n3"];
const DEADLINE_MS = 20_000;

/** Three in-process nodes, each behind its own loopback server (real disk, real HTTP). */
class Cluster {
  readonly nodes = new Map<string, RaftNode>();
  readonly fsms = new Map<string, KvStateMachine>();
  readonly servers = new Map<string, Deno.HttpServer<Deno.NetAddr>>();
  readonly urls = new Map<string, string>();

  constructor(readonly root: string, readonly snapshotEveryEntries = 10_000) {}

  listen(ids: readonly string[] = IDS): void {
    for (const id of ids) {
      const server = Deno.serve({
        hostname: "127.0.0.1",
        port: 0,
        onListen: () => {},
      }, async (request) => {
        const node = this.nodes.get(id);
        if (node === undefined) return new Response("down", { status: 503 });
        return (await node.handle(request)) ??
          new Response("not found", { status: 404 });
      });
      this.servers.set(id, server);
      this.urls.set(id, `http://127.0.0.1:${server.addr.port}`);
    }
  }

  async start(
    id: string,
    initialMembership = { voters: IDS, learners: [] as string[] },
  ): Promise<void> {
    const fsm = new KvStateMachine();
    const node = await RaftNode.start({
      id,
      dataDir: `${this.root}/${id}`,
      peers: this.urls,
      initialMembership,
      stateMachine: fsm,
      tickMs: 20,
      snapshotEveryEntries: this.snapshotEveryEntries,
      transport: { retryDelayMs: 10 },
    });
    this.fsms.set(id, fsm);
    this.nodes.set(id, node);
  }

  async stop(id: string): Promise<void> {
    await this.nodes.get(id)?.stop();
    this.nodes.delete(id);
  }

  async waitFor<T>(what: string, probe: () => T | null): Promise<T> {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      const value = probe();
      if (value !== null) return value;
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for ${what}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  leader(): Promise<RaftNode> {
    return this.waitFor("a leader", () => {
      for (const node of this.nodes.values()) {
        if (node.status.role === "leader") return node;
      }
      return null;
    });
  }

  async close(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.stop(id);
    for (const server of this.servers.values()) await server.shutdown();
  }
}

async function withCluster(
  fn: (cluster: Cluster) => Promise<void>,
  snapshotEveryEntries?: number,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "mill-raft-node-" });
  const cluster = new Cluster(root, snapshotEveryEntries);
  try {
    cluster.listen();
    for (const id of IDS) await cluster.start(id);
    await fn(cluster);
  } finally {
    await cluster.close();
    await Deno.remove(root, { recursive: true });
  }
}

async function writeMany(
  node: RaftNode,
  prefix: string,
  count: number,
): Promise<void> {
  const results = await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        node.propose(encodeKvWrite({ key: prefix, value: `${prefix}-${i}` })),
    ),
  );
  assertEquals(results.length, count);
}

Deno.test("RaftNode replicates proposals to every node's state machine through real disk and HTTP", async () => {
  await withCluster(async (cluster) => {
    const leader = await cluster.leader();
    await writeMany(leader, "k", 300);
    const index = await leader.readBarrier();
    assert(index >= 300);
    await cluster.waitFor(
      "all nodes applied",
      () =>
        [...cluster.nodes.values()].every((n) => n.status.applied >= index)
          ? true
          : null,
    );
    const histories = IDS.map((id) => cluster.fsms.get(id)!.history);
    assertEquals(histories[1], histories[0]);
    assertEquals(histories[2], histories[0]);
    assertEquals(new Set(histories[0]!.map((h) => h.value)).size, 300);
    assert(
      leader.status.walSyncs < 300,
      `expected group commits, got ${leader.status.walSyncs}`,
    );
  });
});

Deno.test("RaftNode refuses proposals on a follower and names the leader", async () => {
  await withCluster(async (cluster) => {
    const leader = await cluster.leader();
    await writeMany(leader, "warm", 1);
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    await rejects(
      follower.propose(encodeKvWrite({ key: "x", value: "y" })),
      (err: unknown) =>
        err instanceof RaftError && err.code === "raft.not_leader",
    );
    await rejects(
      follower.readBarrier(),
      (err: unknown) =>
        err instanceof RaftError && err.code === "raft.not_leader",
    );
  });
});

Deno.test("RaftNode elects a new leader after the old one stops and the restarted node catches up by snapshot", async () => {
  await withCluster(async (cluster) => {
    const first = await cluster.leader();
    await writeMany(first, "a", 50);
    const oldId = first.status.id;
    await cluster.stop(oldId);
    const second = await cluster.leader();
    assert(second.status.id !== oldId);
    await writeMany(second, "b", 120);
    const survivors = [...cluster.nodes.values()];
    await cluster.waitFor(
      "a compaction",
      () => survivors.every((n) => n.status.snapshotIndex > 100) ? true : null,
    );
    await cluster.start(oldId);
    const target = second.status.commit;
    await cluster.waitFor(
      "the restarted node to catch up",
      () => cluster.nodes.get(oldId)!.status.applied >= target ? true : null,
    );
    const restarted = cluster.fsms.get(oldId)!;
    const reference = cluster.fsms.get(second.status.id)!;
    assertEquals(
      restarted.history.slice(0, reference.history.length),
      reference.history,
    );
    assertEquals(restarted.get("a").length, 50);
    assertEquals(restarted.get("b").length, 120);
    const snapshotsSent = [...cluster.nodes.values()].reduce(
      (n, node) => n + node.status.transport.snapshotsSent,
      0,
    );
    assert(snapshotsSent >= 1, "a leader streamed an InstallSnapshot");
    assert(cluster.nodes.get(oldId)!.status.snapshotIndex > 50);
  }, 40);
});

Deno.test("RaftNode rejects pending proposals with raft.leadership_lost when the leader loses its quorum", async () => {
  await withCluster(async (cluster) => {
    const leader = await cluster.leader();
    await writeMany(leader, "warm", 5);
    const leaderId = leader.status.id;
    for (const id of IDS) if (id !== leaderId) await cluster.stop(id);
    const pending = leader.propose(
      encodeKvWrite({ key: "lost", value: "maybe" }),
    );
    await rejects(
      pending,
      (err: unknown) =>
        err instanceof RaftError && err.code === "raft.leadership_lost",
    );
    assert(leader.status.role !== "leader");
  });
});

Deno.test("RaftNode hands leadership to a chosen follower on request", async () => {
  await withCluster(async (cluster) => {
    const leader = await cluster.leader();
    await writeMany(leader, "before", 10);
    const target = IDS.find((id) => id !== leader.status.id)!;
    leader.transferLeadership(target);
    const next = await cluster.waitFor("the transfer", () => {
      const node = cluster.nodes.get(target)!;
      return node.status.role === "leader" ? node : null;
    });
    await writeMany(next, "after", 10);
    assertEquals(cluster.fsms.get(target)!.get("after").length, 10);
  });
});

Deno.test("RaftNode adds a learner that catches up, then promotes it to voter", async () => {
  await withCluster(async (cluster) => {
    const leader = await cluster.leader();
    await writeMany(leader, "before", 30);
    cluster.listen(["n4"]);
    for (const node of cluster.nodes.values()) {
      node.setPeer("n4", cluster.urls.get("n4")!);
    }
    await cluster.start("n4", { voters: [], learners: [] });
    await leader.proposeMembership({ type: "add-learner", id: "n4" });
    await writeMany(leader, "after", 10);
    const target = leader.status.commit;
    await cluster.waitFor(
      "the learner to catch up",
      () => cluster.nodes.get("n4")!.status.applied >= target ? true : null,
    );
    assertEquals(cluster.fsms.get("n4")!.get("before").length, 30);
    assertEquals(cluster.nodes.get("n4")!.status.role, "learner");
    await leader.proposeMembership({ type: "promote", id: "n4" });
    await cluster.waitFor(
      "n4 to become a follower",
      () => cluster.nodes.get("n4")!.status.role === "follower" ? true : null,
    );
    await rejects(
      leader.proposeMembership({ type: "promote", id: "nobody" }),
      (err: unknown) =>
        err instanceof RaftError && err.code === "raft.membership_invalid",
    );
  });
});

Deno.test("RaftNode.handle() admits only members, speaking as the sender the peer port authenticated", async () => {
  const root = await Deno.makeTempDir({ prefix: "mill-raft-trust-" });
  const fsm = new KvStateMachine();
  // n2 and n3 are never started: n1 alone cannot elect, so only what we send moves it.
  const node = await RaftNode.start({
    id: "n1",
    dataDir: root,
    peers: new Map(),
    initialMembership: { voters: IDS, learners: [] },
    stateMachine: fsm,
    tickMs: 60_000,
  });
  const post = (path: string, body: Uint8Array<ArrayBuffer>, sender: string) =>
    node.handle(
      new Request(`http://n1${path}`, { method: "POST", body }),
      { sender },
    );
  const heartbeat = (from: string): Message => ({
    type: "heartbeat",
    from,
    to: "n1",
    term: 1,
    commit: 0,
    context: "",
  });
  try {
    const snapshot: Message = {
      type: "snapshot",
      from: "x",
      to: "n1",
      term: 1,
      snapshot: {
        meta: {
          index: 10_000_000,
          term: 1,
          membership: { voters: ["x"], learners: [] },
        },
        data: new Uint8Array(0),
      },
    };
    const cases: [string, string, Uint8Array<ArrayBuffer>, string, number][] = [
      [
        "a non-member's snapshot",
        SNAPSHOT_PATH,
        encodeBatch([snapshot]).slice(4),
        "x",
        403,
      ],
      [
        "a forged from",
        MESSAGES_PATH,
        encodeBatch([heartbeat("n3")]),
        "n2",
        403,
      ],
      [
        "a huge term",
        MESSAGES_PATH,
        encodeBatch([{ ...heartbeat("n2"), term: 2 ** 53 - 1 }]),
        "n2",
        400,
      ],
    ];
    for (const [what, path, body, sender, status] of cases) {
      const response = await post(path, body, sender);
      assertEquals(response?.status, status, what);
      await response?.body?.cancel();
    }
    assertEquals(
      [node.status.term, node.status.leader, node.status.snapshotIndex],
      [0, null, 0],
    );
    assertEquals(node.status.transport.rejected, 3);
    const admitted = await post(
      MESSAGES_PATH,
      encodeBatch([heartbeat("n2")]),
      "n2",
    );
    assertEquals(admitted?.status, 204);
    assertEquals([node.status.term, node.status.leader], [1, "n2"]);
  } finally {
    await node.stop();
    await Deno.remove(root, { recursive: true });
  }
});
