import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import type { Message } from "./types.ts";
import { HttpTransport, MESSAGES_PATH } from "./transport.ts";

const DEADLINE_MS = 10_000;

/** Resolves once `predicate` holds; checks on every received message. */
function collector() {
  const received: Message[] = [];
  let wake = () => {};
  return {
    received,
    onMessage(message: Message) {
      received.push(message);
      wake();
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
  const b = new HttpTransport({ id: "b", peers: new Map() }, inbox.onMessage);
  const addr = b.listen({ hostname: "127.0.0.1", port: 0 });
  const a = new HttpTransport({
    id: "a",
    peers: new Map([["b", `http://127.0.0.1:${addr.port}`]]),
    ...options,
  }, () => {});
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
    assertEquals(inbox.received, [heartbeat(1), snapshot, heartbeat(2)]);
    assertEquals(a.stats.snapshotsSent, 1);
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
  }, () => {});
  try {
    a.send(Array.from({ length: 100 }, (_, i) => heartbeat(i)));
    assert(a.stats.dropped >= 89, `dropped ${a.stats.dropped}`);
    a.send([{ ...heartbeat(0), to: "nobody" }]);
    assert(a.stats.dropped >= 90);
  } finally {
    await a.close();
  }
});

Deno.test("HttpTransport answers bad frames with 400 and ignores messages for another member", async () => {
  const { b, inbox, port, close } = pair();
  try {
    const bad = await fetch(`http://127.0.0.1:${port}${MESSAGES_PATH}`, {
      method: "POST",
      body: new Uint8Array([1, 0, 0, 0, 99]),
    });
    assertEquals(bad.status, 400);
    await bad.body?.cancel();
    const get = await fetch(`http://127.0.0.1:${port}${MESSAGES_PATH}`);
    assertEquals(get.status, 405);
    await get.body?.cancel();
    const sender = new HttpTransport({
      id: "x",
      peers: new Map([["c", `http://127.0.0.1:${port}`]]),
    }, () => {});
    sender.send([{ ...heartbeat(1), from: "x", to: "c" }]);
    await sender.close();
    const deadline = Date.now() + DEADLINE_MS;
    while (b.stats.rejected < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(b.stats.rejected, 2);
    assertEquals(inbox.received, []);
  } finally {
    await close();
  }
});

Deno.test("HttpTransport refuses bodies past its bound with 413, sized or streamed", async () => {
  const b = new HttpTransport(
    { id: "b", peers: new Map(), bodyBytesMax: 100 },
    () => {},
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
    assertEquals(b.stats.rejected, 2);
  } finally {
    await b.close();
  }
});
