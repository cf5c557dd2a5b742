import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { DecodeError } from "./storage/bytes.ts";
import type { MemberId, Message } from "./types.ts";
import { HttpTransport, MESSAGES_PATH } from "./transport.ts";
import type { RaftView } from "./transport_admission.ts";
import { decodeBatch } from "./transport_codec.ts";
import {
  encodeFrame,
  FrameReader,
  STREAM_DEFAULTS,
  STREAM_PATH,
} from "./transport_stream.ts";

const DEADLINE_MS = 10_000;

const VIEW: RaftView = {
  term: 1,
  lastIndex: 0,
  members: new Set(["a", "b", "c"]),
};

function heartbeat(i: number, from: MemberId = "a"): Message {
  return { type: "heartbeat", from, to: "b", term: 1, commit: i, context: "" };
}

async function eventually(predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("deadline passed");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function frameOf(messages: Message[]): Uint8Array {
  return concat(encodeFrame(messages));
}

/** A receiving transport "b" and what it delivered. */
function receiver(view: RaftView = VIEW) {
  const received: Message[] = [];
  const b = new HttpTransport({ id: "b", peers: new Map() }, {
    view: () => view,
    deliver: (message) => received.push(message),
  });
  return { b, received };
}

/** A streamed request whose body is `chunks`, then (unless `open`) its end. */
function streamRequest(chunks: Uint8Array[], open = false): Request {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      if (!open) controller.close();
    },
  });
  return new Request(`http://b${STREAM_PATH}`, {
    method: "POST",
    body,
    duplex: "half",
  } as RequestInit);
}

Deno.test("FrameReader cuts frames split at every byte and packed together", () => {
  const frames = [
    [heartbeat(1)],
    [heartbeat(2), heartbeat(3)],
    [heartbeat(4)],
  ];
  const bytes = concat(frames.map(frameOf));
  for (let cut = 0; cut <= bytes.length; cut++) {
    const reader = new FrameReader(1024);
    const out = [
      ...reader.push(bytes.subarray(0, cut)),
      ...reader.push(bytes.subarray(cut)),
    ];
    assertEquals(out.map((f) => decodeBatch(f)), frames);
    assertEquals(reader.buffered, 0);
  }
  // One byte at a time.
  const reader = new FrameReader(1024);
  const out: Uint8Array[] = [];
  for (const byte of bytes) out.push(...reader.push(Uint8Array.of(byte)));
  assertEquals(out.map((f) => decodeBatch(f)), frames);
});

Deno.test("FrameReader refuses a length past its bound before buffering it", () => {
  const reader = new FrameReader(100);
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, 101, true);
  assertThrows(() => reader.push(head), DecodeError);
  const exact = new FrameReader(100);
  new DataView(head.buffer).setUint32(0, 100, true);
  assertEquals(exact.push(head), []);
  assertEquals(exact.push(new Uint8Array(100)).length, 1);
});

Deno.test("HttpTransport streams batches to a peer on one request", async () => {
  const { b, received } = receiver();
  const addr = b.listen({ hostname: "127.0.0.1", port: 0 });
  const a = new HttpTransport({
    id: "a",
    peers: new Map([["b", `http://127.0.0.1:${addr.port}`]]),
  }, { view: () => VIEW, deliver: () => {} });
  try {
    const messages = Array.from({ length: 500 }, (_, i) => heartbeat(i));
    for (let i = 0; i < messages.length; i += 10) {
      a.send(messages.slice(i, i + 10));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await eventually(() => received.length === messages.length);
    assertEquals(received, messages);
    assertEquals(a.stats.streamsOpened, 1);
    assertEquals(a.stats.requests, 1);
    assertEquals(a.stats.sent, messages.length);
    assertEquals(b.stats.received, messages.length);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("HttpTransport posts batches to a peer without the stream path", async () => {
  const { b, received } = receiver();
  const paths: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      paths.push(path);
      if (path === STREAM_PATH) {
        await request.body?.cancel();
        return new Response(null, { status: 404 });
      }
      return (await b.handle(request)) ?? new Response(null, { status: 404 });
    },
  );
  const a = new HttpTransport({
    id: "a",
    peers: new Map([["b", `http://127.0.0.1:${server.addr.port}`]]),
  }, { view: () => VIEW, deliver: () => {} });
  try {
    a.send([heartbeat(1)]);
    await eventually(() => paths.includes(STREAM_PATH));
    // What waited on the refused stream may be dropped (Raft resends), so
    // heartbeats go on until one arrives by post.
    for (let i = 2; received.length === 0 && i < 500; i++) {
      a.send([heartbeat(i)]);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert(received.length > 0, "a heartbeat arrived by post");
    assertEquals(paths.filter((p) => p === STREAM_PATH).length, 1);
    assert(paths.includes(MESSAGES_PATH));
  } finally {
    await a.close();
    await b.close();
    await server.shutdown();
  }
});

Deno.test("HttpTransport opens a new stream after the peer restarts", async () => {
  const first = receiver();
  const addr = first.b.listen({ hostname: "127.0.0.1", port: 0 });
  const a = new HttpTransport({
    id: "a",
    peers: new Map([["b", `http://127.0.0.1:${addr.port}`]]),
    retryDelayMs: 1,
  }, { view: () => VIEW, deliver: () => {} });
  const second = receiver();
  try {
    a.send([heartbeat(1)]);
    await eventually(() => first.received.length === 1);
    await first.b.close();
    second.b.listen({ hostname: "127.0.0.1", port: addr.port });
    // Heartbeats go on until one reaches the new process.
    for (let i = 2; second.received.length === 0; i++) {
      a.send([heartbeat(i)]);
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (i > 1000) throw new Error("no stream reached the restarted peer");
    }
    assert(a.stats.streamsOpened >= 2);
  } finally {
    await a.close();
    await second.b.close();
  }
});

Deno.test("a stream refuses a non-member before reading and a forged frame whole", async () => {
  const { b, received } = receiver();
  try {
    const outsider = await b.handle(streamRequest([frameOf([heartbeat(1)])]), {
      sender: "x",
    });
    assertEquals(outsider?.status, 403);
    assertEquals((await outsider?.json()).code, "raft.transport.not_member");

    // The first frame is admitted; the second mixes in a forged from and is
    // refused whole; nothing after it is read.
    const response = await b.handle(
      streamRequest([
        frameOf([heartbeat(1)]),
        frameOf([heartbeat(2), heartbeat(3, "c")]),
        frameOf([heartbeat(4)]),
      ]),
      { sender: "a" },
    );
    assertEquals(response?.status, 403);
    assertEquals((await response?.json()).code, "raft.transport.forged_sender");
    assertEquals(received, [heartbeat(1)]);
    assertEquals(b.stats.rejectedForbidden, 2);
  } finally {
    await b.close();
  }
});

Deno.test("a stream refuses oversized, undecodable and cut-short frames with 400", async () => {
  const { b, received } = receiver();
  try {
    const huge = new Uint8Array(4);
    new DataView(huge.buffer).setUint32(
      0,
      STREAM_DEFAULTS.frameBytesMax + 1,
      true,
    );
    const garbage = Uint8Array.of(3, 0, 0, 0, 0xff, 0xff, 0xff);
    const whole = frameOf([heartbeat(1)]);
    const cut = whole.subarray(0, whole.length - 1);
    for (const body of [huge, garbage, cut]) {
      const response = await b.handle(streamRequest([body]), { sender: "a" });
      assertEquals(response?.status, 400);
      assertEquals((await response?.json()).code, "raft.transport.malformed");
    }
    assertEquals(received, []);
    assertEquals(b.stats.rejectedMalformed, 3);
  } finally {
    await b.close();
  }
});

Deno.test("a sender holds at most two streams: a third ends the oldest", async () => {
  const { b, received } = receiver();
  try {
    const streams = [1, 2, 3].map((i) =>
      b.handle(streamRequest([frameOf([heartbeat(i)])], true), {
        sender: "a",
      })
    );
    // The first stream ends (204) once the third opens; the others stay.
    assertEquals((await streams[0])?.status, 204);
    await eventually(() => received.length === 3);
    let settled = 0;
    for (const stream of streams.slice(1)) void stream.then(() => settled++);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assertEquals(settled, 0);
  } finally {
    await b.close();
  }
});

Deno.test("a closed transport refuses new streams with 429", async () => {
  const { b, received } = receiver();
  await b.close();
  const response = await b.handle(streamRequest([frameOf([heartbeat(1)])]), {
    sender: "a",
  });
  assertEquals(response?.status, 429);
  assertEquals((await response?.json()).code, "raft.transport.busy");
  assertEquals(received, []);
  assertEquals(b.stats.rejectedBusy, 1);
});

Deno.test("a re-addressed peer gets its next batches on a stream to the new address", async () => {
  const first = receiver();
  const second = receiver();
  const addr1 = first.b.listen({ hostname: "127.0.0.1", port: 0 });
  const addr2 = second.b.listen({ hostname: "127.0.0.1", port: 0 });
  const a = new HttpTransport({
    id: "a",
    peers: new Map([["b", `http://127.0.0.1:${addr1.port}`]]),
  }, { view: () => VIEW, deliver: () => {} });
  try {
    a.send([heartbeat(1)]);
    await eventually(() => first.received.length === 1);
    a.setPeer("b", `http://127.0.0.1:${addr2.port}`);
    a.send([heartbeat(2)]);
    await eventually(() => second.received.length === 1);
    assertEquals(second.received, [heartbeat(2)]);
    assertEquals(first.received, [heartbeat(1)], "nothing more to the old one");
    assertEquals(a.stats.streamsOpened, 2);
  } finally {
    await a.close();
    await first.b.close();
    await second.b.close();
  }
});
