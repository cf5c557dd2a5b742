import {
  deepStrictEqual as assertEquals,
  throws as assertThrows,
} from "node:assert/strict";
import { readEvents, within } from "./_testing.ts";
import { ApiError } from "./errors.ts";
import { formatSseEvent, SseHub, SseStream } from "./sse.ts";

Deno.test("formatSseEvent() writes id, event and one line of JSON data", async (t) => {
  const rows: [string, Parameters<typeof formatSseEvent>[0], string][] = [
    ["a plain event", {
      event: "phase",
      data: { service: "web", phase: "pulling" },
    }, 'event: phase\ndata: {"service":"web","phase":"pulling"}\n\n'],
    [
      "an event with id",
      { event: "done", data: null, id: "7" },
      "id: 7\nevent: done\ndata: null\n\n",
    ],
    [
      "data with line breaks",
      { event: "log", data: "a\nb\r\nc" },
      'event: log\ndata: "a\\nb\\r\\nc"\n\n',
    ],
    [
      "undefined data",
      { event: "x", data: undefined },
      "event: x\ndata: null\n\n",
    ],
  ];
  for (const [name, event, wire] of rows) {
    await t.step(name, () => assertEquals(formatSseEvent(event), wire));
  }
});

Deno.test("formatSseEvent() refuses names and ids that would break the framing", async (t) => {
  const rows: [string, Parameters<typeof formatSseEvent>[0]][] = [
    ["an empty name", { event: "", data: 1 }],
    ["a name with a newline", { event: "a\nevent: b", data: 1 }],
    ["a name with a colon", { event: "a:b", data: 1 }],
    ["an id with a newline", { event: "a", data: 1, id: "1\ndata: x" }],
  ];
  for (const [name, event] of rows) {
    await t.step(name, () => assertThrows(() => formatSseEvent(event)));
  }
});

Deno.test("SseStream delivers events in order and ends when closed", async () => {
  const stream = new SseStream();
  assertEquals(
    stream.response.headers.get("content-type"),
    "text/event-stream; charset=utf-8",
  );
  const reader = stream.response.body!.getReader();
  stream.send({ event: "a", data: 1, id: "1" });
  stream.send({ event: "b", data: { x: "y" } });
  stream.close();
  assertEquals(await readEvents(reader, 3), [{ event: "a", data: 1, id: "1" }, {
    event: "b",
    data: { x: "y" },
  }]);
  assertEquals(stream.send({ event: "c", data: 2 }), false);
  await stream.done;
});

Deno.test("SseStream sends heartbeat comments while quiet", async () => {
  const stream = new SseStream({ heartbeatMs: 10 });
  const reader = stream.response.body!.getReader();
  const { value } = await within(reader.read(), 5_000, "heartbeat");
  assertEquals(new TextDecoder().decode(value), ": heartbeat\n\n");
  await reader.cancel();
  await stream.done;
  assertEquals(stream.closed, true);
});

Deno.test("SseStream cuts off a reader that falls too far behind", () => {
  const stream = new SseStream({ queueEventsMax: 3 });
  const results = Array.from(
    { length: 5 },
    (_, i) => stream.send({ event: "e", data: i }),
  );
  assertEquals(results, [true, true, true, false, false]);
  assertEquals(stream.closed, true);
  void stream.response.body!.cancel();
});

Deno.test("SseStream closes when the request signal aborts, even before it starts", async () => {
  const controller = new AbortController();
  const stream = new SseStream({ signal: controller.signal });
  controller.abort();
  await within(stream.done, 5_000, "done");
  await stream.response.body!.cancel();
  const early = new SseStream({ signal: AbortSignal.abort() });
  assertEquals(early.closed, true);
  await early.response.body!.cancel();
});

Deno.test("SseHub bounds its subscribers and forgets closed ones", async () => {
  const hub = new SseHub({ subscribersMax: 2 });
  const a = hub.subscribe();
  const b = hub.subscribe();
  assertThrows(() => hub.subscribe(), (err: unknown) => {
    return err instanceof ApiError && err.status === 503 &&
      err.code === "api.too_many_streams";
  });
  const readerA = a.response.body!.getReader();
  assertEquals(hub.publish({ event: "p", data: 1 }), 2);
  await b.response.body!.cancel();
  assertEquals(hub.size, 1);
  assertEquals(hub.publish({ event: "p", data: 2 }), 1);
  const c = hub.subscribe(AbortSignal.abort());
  assertEquals(c.closed, true);
  assertEquals(hub.size, 1);
  hub.close();
  assertEquals(hub.size, 0);
  assertEquals(await readEvents(readerA, 3), [{ event: "p", data: 1 }, {
    event: "p",
    data: 2,
  }]);
  assertThrows(() => hub.subscribe(), ApiError);
  await c.response.body!.cancel();
});
