import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import { readJsonBody, readTextBody } from "./body.ts";
import { ApiError } from "./errors.ts";

function post(body: BodyInit | null, headers: Record<string, string>): Request {
  return new Request("https://127.0.0.1/v1/x", {
    method: "POST",
    body,
    headers,
  });
}

/** A body streamed in `chunks` pieces of `size` bytes, with no content-length. */
function streamed(chunks: number, size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === chunks) return controller.close();
      sent += 1;
      controller.enqueue(new Uint8Array(size).fill(0x20));
    },
  });
}

function isApiError(status: number, code: string) {
  return (err: unknown) =>
    err instanceof ApiError && err.status === status && err.code === code;
}

Deno.test("readJsonBody() parses JSON of an accepted content type", async (t) => {
  const rows: [string, string][] = [
    ["application/json", '{"a":1}'],
    ["application/json; charset=utf-8", '{"a":1}'],
    ["Application/JSON", ' {"a":1} '],
  ];
  for (const [type, body] of rows) {
    await t.step(type, async () => {
      assertEquals(await readJsonBody(post(body, { "content-type": type })), {
        a: 1,
      });
    });
  }
});

Deno.test("readJsonBody() refuses bad bodies with the right status", async (t) => {
  const big = "x".repeat(2_000);
  const rows: [string, () => Request, number, string][] = [
    [
      "no content type",
      () => post('{"a":1}', {}),
      415,
      "api.unsupported_media_type",
    ],
    [
      "text/plain",
      () => post('{"a":1}', { "content-type": "text/plain" }),
      415,
      "api.unsupported_media_type",
    ],
    [
      "a JSON look-alike type",
      () => post("{}", { "content-type": "application/jsonx" }),
      415,
      "api.unsupported_media_type",
    ],
    [
      "a declared length over the limit",
      () => post(JSON.stringify(big), { "content-type": "application/json" }),
      413,
      "api.body_too_large",
    ],
    [
      "a streamed body over the limit",
      () => post(streamed(100, 100), { "content-type": "application/json" }),
      413,
      "api.body_too_large",
    ],
    [
      "invalid JSON",
      () => post("{a:1}", { "content-type": "application/json" }),
      400,
      "api.invalid_json",
    ],
    [
      "an empty body",
      () => post("", { "content-type": "application/json" }),
      400,
      "api.empty_body",
    ],
    [
      "no body at all",
      () => post(null, { "content-type": "application/json" }),
      400,
      "api.empty_body",
    ],
    [
      "invalid UTF-8",
      () =>
        post(new Uint8Array([0x22, 0xff, 0x22]), {
          "content-type": "application/json",
        }),
      400,
      "api.invalid_encoding",
    ],
  ];
  for (const [name, make, status, code] of rows) {
    await t.step(name, async () => {
      await assertRejects(
        () => readJsonBody(make(), { bytesMax: 1_000 }),
        isApiError(status, code),
      );
    });
  }
});

Deno.test("readTextBody() accepts a streamed body right at the limit", async () => {
  const text = await readTextBody(
    post(streamed(10, 100), { "content-type": "text/plain" }),
    {
      bytesMax: 1_000,
      contentTypes: ["text/plain"],
    },
  );
  assertEquals(text.length, 1_000);
});
