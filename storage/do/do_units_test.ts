import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { retryAfterMsOf } from "./api_client.ts";
import { classifyUnprocessable, redact, storageErrorOf } from "./errors.ts";
import { DoApiError } from "./api_client.ts";
import {
  GIB,
  gigabytesFor,
  nextPagePath,
  UnexpectedBodyError,
  volumeFrom,
} from "./wire.ts";

Deno.test("wire: sizes round up to whole GiB, one at least", () => {
  assertEquals(gigabytesFor(1), 1);
  assertEquals(gigabytesFor(GIB), 1);
  assertEquals(gigabytesFor(GIB + 1), 2);
  assertEquals(gigabytesFor(0), 1);
});

Deno.test("wire: the next page keeps only the link's path and query", () => {
  assertEquals(
    nextPagePath({
      links: {
        pages: {
          next: "https://elsewhere.example/v2/volumes?page=2&per_page=2",
        },
      },
    }),
    "/v2/volumes?page=2&per_page=2",
  );
  assertEquals(nextPagePath({ links: {} }), null);
  assertEquals(nextPagePath({ volumes: [] }), null);
  throws(
    () => nextPagePath({ links: { pages: { next: 3 } } }),
    UnexpectedBodyError,
  );
});

Deno.test("wire: a volume object becomes a CloudVolume; a malformed one is refused", () => {
  assertEquals(
    volumeFrom({
      id: "506f78a4-e098-11e5-ad9f-000f53306ae1",
      region: { slug: "nyc1" },
      droplet_ids: [101],
      name: "example",
      size_gigabytes: 10,
      created_at: "2020-03-02T17:00:49Z",
      tags: ["a"],
    }),
    {
      id: "506f78a4-e098-11e5-ad9f-000f53306ae1",
      name: "example",
      sizeBytes: 10 * GIB,
      region: "nyc1",
      attachedTo: "101",
      tags: ["a"],
      createdAtMs: Date.parse("2020-03-02T17:00:49Z"),
    },
  );
  throws(() => volumeFrom({ id: 1 }), UnexpectedBodyError);
});

Deno.test("api client: Retry-After in seconds or as a date, else ratelimit-reset", () => {
  const now = Date.parse("2024-01-01T00:00:00Z");
  assertEquals(
    retryAfterMsOf(new Headers({ "retry-after": "29" }), now),
    29_000,
  );
  assertEquals(
    retryAfterMsOf(
      new Headers({ "retry-after": "Mon, 01 Jan 2024 00:00:10 GMT" }),
      now,
    ),
    10_000,
  );
  assertEquals(
    retryAfterMsOf(
      new Headers({ "ratelimit-reset": String(now / 1000 + 60) }),
      now,
    ),
    60_000,
  );
  assertEquals(retryAfterMsOf(new Headers(), now), 1000);
});

Deno.test("errors: the API's 422 texts are told apart", () => {
  assertEquals(
    classifyUnprocessable("This volume is already attached"),
    "already_attached",
  );
  assertEquals(classifyUnprocessable("Attachment not found"), "not_attached");
  assertEquals(
    classifyUnprocessable("Droplet already has a pending event."),
    "pending_event",
  );
  assertEquals(
    classifyUnprocessable("cannot attach more volumes to the Droplet"),
    "limit",
  );
  assertEquals(
    classifyUnprocessable(
      "cannot attach more than 7 volumes to a single Droplet",
    ),
    "limit",
  );
  assertEquals(classifyUnprocessable("something else"), "other");
});

Deno.test("errors: the token is scrubbed from every message, the API's included", () => {
  const token = "dop_v1_secret";
  assertEquals(redact(`Bearer ${token} here`, token), "Bearer [redacted] here");
  const error = storageErrorOf(
    new DoApiError(500, "server_error", `echoed ${token}`),
    { doing: "list volumes", tokenSecret: "digitalocean-token", token },
  );
  assertEquals(error.code, "storage.unavailable");
  assertEquals(error.message.includes(token), false);
  const limited = storageErrorOf(
    new DoApiError(
      429,
      "too_many_requests",
      "API Rate limit exceeded.",
      30_000,
    ),
    { doing: "list volumes", tokenSecret: "digitalocean-token", token },
  );
  assertEquals([limited.code, limited.retryAfterMs], [
    "storage.rate_limited",
    30_000,
  ]);
});
