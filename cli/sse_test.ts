import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import {
  parseEventJson,
  readEvents,
  SSE_EVENT_BYTES_MAX,
  SseError,
  type SseEvent,
} from "./sse.ts";

/** A body that yields `chunks` one by one and records whether it was cancelled. */
function body(chunks: readonly (string | Uint8Array)[]) {
  const encoder = new TextEncoder();
  const state = { cancelled: false };
  let next = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[next++];
      if (chunk === undefined) controller.close();
      else {
        controller.enqueue(
          typeof chunk === "string" ? encoder.encode(chunk) : chunk,
        );
      }
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

async function collect(
  chunks: readonly (string | Uint8Array)[],
  options: { eventBytesMax?: number } = {},
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const event of readEvents(body(chunks).stream, options)) {
    events.push(event);
  }
  return events;
}

async function refusal(
  work: () => Promise<unknown>,
): Promise<SseError> {
  try {
    await work();
  } catch (error) {
    ok(error instanceof SseError, String(error));
    return error;
  }
  throw new Error("expected an SseError");
}

Deno.test("readEvents() reads events however the stream is cut and framed", async (t) => {
  const euro = new TextEncoder().encode('data: {"sign":"€"}\n\n');
  const cases: {
    name: string;
    chunks: readonly (string | Uint8Array)[];
    events: SseEvent[];
  }[] = [
    {
      name: "one event per chunk, as the API writes them",
      chunks: [
        'id: 1\nevent: start\ndata: {"a":1}\n\n',
        'id: 2\nevent: done\ndata: {"elapsedMs":4800}\n\n',
      ],
      events: [
        { event: "start", data: '{"a":1}' },
        { event: "done", data: '{"elapsedMs":4800}' },
      ],
    },
    {
      name: "chunks split mid-line and mid-field",
      chunks: ["ev", "ent: lo", "g\nda", 'ta: {"line":', '"x"}\n', "\n"],
      events: [{ event: "log", data: '{"line":"x"}' }],
    },
    {
      name: "a chunk split inside a UTF-8 sequence",
      chunks: [euro.slice(0, 15), euro.slice(15)],
      events: [{ event: "message", data: '{"sign":"€"}' }],
    },
    {
      name: "data over several lines is joined with newlines",
      chunks: ["event: text\ndata: one\ndata:two\ndata: \n\n"],
      events: [{ event: "text", data: "one\ntwo\n" }],
    },
    {
      name: "comments and unknown fields are skipped",
      chunks: [
        ": heartbeat\n\n",
        "event: log\n: in between\nflavour: odd\nretry: soon\ndata: 1\n\n",
      ],
      events: [{ event: "log", data: "1" }],
    },
    {
      name: "CRLF and CR line ends",
      chunks: ["event: a\r\ndata: 1\r\n\r", "\nevent: b\rdata: 2\r\r"],
      events: [{ event: "a", data: "1" }, { event: "b", data: "2" }],
    },
    {
      name: "an event without data, or unfinished at the end, is dropped",
      chunks: ["event: empty\n\n", "event: cut\ndata: 1\n"],
      events: [],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      assertEquals(await collect(c.chunks), c.events);
    });
  }
});

Deno.test("readEvents() reads a response, and nothing from an absent body", async () => {
  const response = new Response("event: done\ndata: {}\n\n");
  const events: SseEvent[] = [];
  for await (const event of readEvents(response)) events.push(event);
  assertEquals(events, [{ event: "done", data: "{}" }]);
  assertEquals(await collect([]), []);
  for await (const _ of readEvents(null)) throw new Error("no events");
  for await (const _ of readEvents(new Response(null))) {
    throw new Error("no events");
  }
});

Deno.test("readEvents() refuses an event past the bound and cancels the stream", async (t) => {
  const big = "x".repeat(SSE_EVENT_BYTES_MAX + 1);
  const cases: { name: string; chunks: string[]; options?: object }[] = [
    {
      name: "a whole event in one chunk",
      chunks: ["data: small\n\n", `data: ${big}\n\n`, "data: never\n\n"],
    },
    {
      name: "an event that never ends",
      chunks: [
        "data: small\n\n",
        ...Array.from(
          { length: 20 },
          () => `data: ${"y".repeat(SSE_EVENT_BYTES_MAX / 10)}\n`,
        ),
        "\n",
      ],
    },
    {
      name: "multi-byte data over the bound in bytes, under it in characters",
      chunks: [
        "data: small\n\n",
        `data: ${"€".repeat(400)}\n\n`,
        "data: x\n\n",
      ],
      options: { eventBytesMax: 1000 },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { stream, state } = body(c.chunks);
      const seen: string[] = [];
      const error = await refusal(async () => {
        for await (const event of readEvents(stream, c.options)) {
          seen.push(event.data);
        }
      });
      assertEquals(error.code, "sse.event_too_large");
      ok(error.message.includes("bytes of data"), error.message);
      assertEquals(seen, ["small"], "the events before it still arrive");
      ok(state.cancelled, "the stream is cancelled");
    });
  }
  await t.step("an event right at the bound is read", async () => {
    const exact = "z".repeat(SSE_EVENT_BYTES_MAX);
    const events = await collect([
      `data: ${exact.slice(0, 10)}`,
      `${exact.slice(10)}\n\n`,
    ]);
    assertEquals(events.map((e) => e.data.length), [SSE_EVENT_BYTES_MAX]);
  });
});

Deno.test("readEvents() cancels the stream when the reader stops early", async () => {
  const { stream, state } = body(["data: 1\n\n", "data: 2\n\n", "data: 3\n\n"]);
  for await (const event of readEvents(stream)) {
    assertEquals(event.data, "1");
    break;
  }
  ok(state.cancelled);
});

Deno.test("parseEventJson() parses JSON data and refuses the rest", async (t) => {
  await t.step("JSON", () => {
    assertEquals(
      parseEventJson({ event: "done", data: '{"elapsedMs":4800}' }),
      { elapsedMs: 4800 },
    );
    assertEquals(parseEventJson({ event: "x", data: "null" }), null);
  });
  await t.step("not JSON", async () => {
    const error = await refusal(() =>
      Promise.resolve().then(() =>
        parseEventJson({ event: "log", data: "not json" })
      )
    );
    assertEquals(error.code, "sse.bad_json");
    ok(error.message.includes('"log"'), error.message);
    ok(error.message.includes("not json"), error.message);
  });
});
