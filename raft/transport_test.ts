import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import type { MemberId, Message } from "./types.ts";
import { HttpTransport, MESSAGES_PATH, SNAPSHOT_PATH } from "./transport.ts";
import { type RaftView, TERM_JUMP_MAX } from "./transport_admission.ts";
import { encodeBatch, encodeSnapshotHead } from "./transport_codec.ts";
import { fresh, makeCore } from "./_testing.ts";

const DEADLINE_MS = 10_000;

/** b's view of a cluster {a, b, c} at term 1. */
const VIEW: RaftView = {
  term: 1,
  lastIndex: 0,
  members: new Set(["a", "b", "c"]),
};

/** Resolves once `predicate` holds; checks on every received message. */
function collector(view: RaftView = VIEW) {
  const received: Message[] = [];
  let wake = () => {};
  return {
    received,
    receiver: {
      view: () => view,
      deliver(message: Message) {
        received.push(message);
        wake();
      },
    },
    async waitFor(predicate: () => boolean): Promise<void> {
      const deadline = Date.now() + DEADLINE_MS;
      while (!predicate()) {
        if (Date.now() > deadline) {
          throw new Error(`deadline passed with ${received.length} messages`);
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

/** A receiver that takes nothing: the sending side of a pair. */
const NOBODY = {
  view: (): RaftView => VIEW,
  deliver: (): void => {},
};

/** Polls `predicate` under the deadline (a request's effect on the far side). */
async function eventually(predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("deadline passed");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function heartbeat(i: number): Message {
  return {
    type: "heartbeat",
    from: "a",
    to: "b",
    term: 1,
    commit: i,
    context: `${i}`,
  };
}

function pair(options: { queueMessagesMax?: number } = {}) {
  const inbox = collector();
  const b = new HttpTransport({ id: "b", peers: new Map() }, inbox.receiver);
  const addr = b.listen({ hostname: "127.0.0.1", port: 0 });
  const a = new HttpTransport({
    id: "a",
    peers: new Map([["b", `http://127.0.0.1:${addr.port}`]]),
    ...options,
  }, NOBODY);
  return {
    a,
    b,
    inbox,
    port: addr.port,
    async close() {
      await a.close();
      await b.close();
    },
  };
}

Deno.test("HttpTransport delivers messages in order and batches them under load", async () => {
  const { a, inbox, close } = pair();
  try {
    const messages = Array.from({ length: 2000 }, (_, i) => heartbeat(i));
    for (let i = 0; i < messages.length; i += 100) {
      a.send(messages.slice(i, i + 100));
    }
    await inbox.waitFor(() => inbox.received.length === messages.length);
    assertEquals(inbox.received, messages);
    assert(
      a.stats.requests < messages.length / 2,
      `expected batching, got ${a.stats.requests} requests`,
    );
    assertEquals(a.stats.dropped, 0);
  } finally {
    await close();
  }
});

Deno.test("HttpTransport streams a large InstallSnapshot intact", async () => {
  const { a, inbox, close } = pair();
  try {
    const data = new Uint8Array(5 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const snapshot: Message = {
      type: "snapshot",
      from: "a",
      to: "b",
      term: 3,
      snapshot: {
        meta: {
          index: 42,
          term: 3,
          membership: { voters: ["a", "b"], learners: [] },
        },
        data,
      },
    };
    a.send([heartbeat(1), snapshot, heartbeat(2)]);
    await inbox.waitFor(() => inbox.received.length === 3);
    // Snapshots are posted on their own, beside the stream of other messages.
    const received = inbox.received;
    assertEquals(received.filter((m) => m.type === "snapshot"), [snapshot]);
    assertEquals(received.filter((m) => m.type !== "snapshot"), [
      heartbeat(1),
      heartbeat(2),
    ]);
    await eventually(() => a.stats.snapshotsSent === 1);
  } finally {
    await close();
  }
});

Deno.test("HttpTransport bounds the queue to an unreachable peer and counts the drops", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = listener.addr.port;
  listener.close();
  const a = new HttpTransport({
    id: "a",
    peers: new Map([["b", `http://127.0.0.1:${deadPort}`]]),
    queueMessagesMax: 10,
  }, NOBODY);
  try {
    a.send(Array.from({ length: 100 }, (_, i) => heartbeat(i)));
    assert(a.stats.dropped >= 89, `dropped ${a.stats.dropped}`);
    a.send([{ ...heartbeat(0), to: "nobody" }]);
    assert(a.stats.dropped >= 90);
  } finally {
    await a.close();
  }
});

Deno.test("HttpTransport answers bad frames with 400 and misaddressed messages with 421", async () => {
  const { b, inbox, port, close } = pair();
  try {
    const bad = await fetch(`http://127.0.0.1:${port}${MESSAGES_PATH}`, {
      method: "POST",
      body: new Uint8Array([1, 0, 0, 0, 99]),
    });
    assertEquals(bad.status, 400);
    assertEquals((await bad.json()).code, "raft.transport.malformed");
    const get = await fetch(`http://127.0.0.1:${port}${MESSAGES_PATH}`);
    assertEquals(get.status, 405);
    await get.body?.cancel();
    const misaddressed = await fetch(
      `http://127.0.0.1:${port}${MESSAGES_PATH}`,
      {
        method: "POST",
        body: encodeBatch([{ ...heartbeat(1), to: "c" }]),
      },
    );
    assertEquals(misaddressed.status, 421);
    assertEquals(
      (await misaddressed.json()).code,
      "raft.transport.misaddressed",
    );
    assertEquals(
      [
        b.stats.rejected,
        b.stats.rejectedMalformed,
        b.stats.rejectedMisaddressed,
      ],
      [2, 1, 1],
    );
    assertEquals(inbox.received, []);
  } finally {
    await close();
  }
});

Deno.test("HttpTransport refuses bodies past its bound with 413, sized or streamed", async () => {
  const b = new HttpTransport(
    { id: "b", peers: new Map(), bodyBytesMax: 100 },
    NOBODY,
  );
  const { port } = b.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const sized = await fetch(`http://127.0.0.1:${port}${MESSAGES_PATH}`, {
      method: "POST",
      body: new Uint8Array(200),
    });
    assertEquals(sized.status, 413);
    await sized.body?.cancel();
    const chunks = [new Uint8Array(60), new Uint8Array(60)];
    const streamed = await fetch(`http://127.0.0.1:${port}${MESSAGES_PATH}`, {
      method: "POST",
      body: new ReadableStream<Uint8Array<ArrayBuffer>>({
        pull(controller) {
          const chunk = chunks.shift();
          if (chunk === undefined) controller.close();
          else controller.enqueue(chunk);
        },
      }),
    });
    assertEquals(streamed.status, 413);
    await streamed.body?.cancel();
    assertEquals([b.stats.rejected, b.stats.rejectedTooLarge], [2, 2]);
  } finally {
    await b.close();
  }
});

/**
 * b runs a real core in a cluster {a, b, c} behind a server that
 * authenticates callers by bearer token, as the peer port does.
 */
function authenticatedPair() {
  const core = makeCore("b", fresh(["a", "b", "c"]));
  const b = new HttpTransport({ id: "b", peers: new Map() }, {
    view: () => ({
      term: core.term,
      lastIndex: core.lastIndex,
      members: core.members(),
    }),
    deliver: (message) => core.step(message),
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const token = request.headers.get("authorization") ?? "";
      const sender = /^Bearer token-([a-z]+)$/.exec(token)?.[1];
      if (sender === undefined) return new Response(null, { status: 401 });
      return (await b.handle(request, { sender })) ??
        new Response(null, { status: 404 });
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  const senders: HttpTransport[] = [];
  return {
    core,
    b,
    url,
    sender(id: MemberId): HttpTransport {
      const transport = new HttpTransport({
        id,
        peers: new Map([["b", url]]),
        headers: { authorization: `Bearer token-${id}` },
        retryDelayMs: 1,
      }, NOBODY);
      senders.push(transport);
      return transport;
    },
    async close() {
      for (const transport of senders) await transport.close();
      await b.close();
      await server.shutdown();
    },
  };
}

function forgedSnapshot(
  from: MemberId,
): Extract<Message, { type: "snapshot" }> {
  return {
    type: "snapshot",
    from,
    to: "b",
    term: 1,
    snapshot: {
      meta: {
        index: 10_000_000,
        term: 1,
        membership: { voters: [from], learners: [] },
      },
      data: new Uint8Array(0),
    },
  };
}

Deno.test("HttpTransport refuses a non-member's snapshot with 403 and the core is untouched", async () => {
  const { core, b, url, sender, close } = authenticatedPair();
  try {
    const x = sender("x");
    x.send([forgedSnapshot("x")]);
    await eventually(() => b.stats.rejectedForbidden === 1);
    assertEquals(x.stats.snapshotsSent, 0);
    const response = await fetch(`${url}${SNAPSHOT_PATH}`, {
      method: "POST",
      headers: { authorization: "Bearer token-x" },
      body: new Uint8Array(encodeSnapshotHead(forgedSnapshot("x"))),
    });
    assertEquals(response.status, 403);
    assertEquals((await response.json()).code, "raft.transport.not_member");
    assertEquals(
      [core.term, core.lastIndex, core.commitIndex, core.snapshot.meta.index],
      [0, 0, 0, 0],
    );
    assertEquals(core.hasReady(), false, "nothing to persist or send");
    assertEquals([b.stats.received, b.stats.rejected], [0, 2]);
    // A member's heartbeat goes through the same door.
    sender("a").send([heartbeat(0)]);
    await eventually(() => b.stats.received === 1);
    assertEquals([core.term, core.leader], [1, "a"]);
  } finally {
    await close();
  }
});

Deno.test("HttpTransport refuses a member's message that forges another's from with 403", async () => {
  const { core, b, url, sender, close } = authenticatedPair();
  try {
    const a = sender("a");
    a.send([{ ...heartbeat(0), from: "c" }]);
    await eventually(() => b.stats.rejectedForbidden === 1);
    assertEquals(a.stats.failedRequests >= 1, true);
    const response = await fetch(`${url}${MESSAGES_PATH}`, {
      method: "POST",
      headers: { authorization: "Bearer token-a" },
      body: encodeBatch([heartbeat(0), { ...heartbeat(0), from: "c" }]),
    });
    assertEquals(response.status, 403);
    assertEquals((await response.json()).code, "raft.transport.forged_sender");
    assertEquals([core.term, core.leader, b.stats.received], [0, null, 0]);
  } finally {
    await close();
  }
});

Deno.test("HttpTransport refuses a member's heartbeat at a huge term with 400", async () => {
  const { core, b, url, close } = authenticatedPair();
  try {
    for (const term of [TERM_JUMP_MAX + 1, 2 ** 53 - 1]) {
      const response = await fetch(`${url}${MESSAGES_PATH}`, {
        method: "POST",
        headers: { authorization: "Bearer token-a" },
        body: encodeBatch([{ ...heartbeat(0), term }]),
      });
      assertEquals(response.status, 400);
      assertEquals(
        (await response.json()).code,
        "raft.transport.out_of_bounds",
      );
    }
    assertEquals([core.term, b.stats.rejectedOutOfBounds], [0, 2]);
  } finally {
    await close();
  }
});
