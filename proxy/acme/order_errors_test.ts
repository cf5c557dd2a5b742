/**
 * How the CA's errors reach the caller, through a small real HTTP server
 * playing the ACME endpoints pebble cannot be made to fail with (pebble has
 * no rate limits): a 429 with Retry-After, a rateLimited problem, a 5xx, a
 * bad directory. Each server counts the requests it got, to show that
 * acme-client's own retries (sleeping through Retry-After) never run.
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { createAccountKeyPem } from "./_acme_client.ts";
import { orderCertificate, type OrderResult } from "./order.ts";
import { freePort } from "./pebble_testing.ts";
import { afterFailure, newHostState, nextOrderAtMs } from "./renewal.ts";

type Answer = {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
};

/** An ACME server whose newOrder answers as `onOrder` says. */
function fakeAcme(options: {
  directory?: (base: string) => Answer;
  onAccount?: (count: number) => Answer;
  onOrder: (count: number) => Answer;
}) {
  const counts = { account: 0, order: 0, nonce: 0 };
  let nonce = 0;
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request): Promise<Response> => {
      await request.body?.cancel();
      const base: string = `http://127.0.0.1:${server.addr.port}`;
      const path = new URL(request.url).pathname;
      const answer = (a: Answer) =>
        new Response(
          a.body === undefined
            ? null
            : typeof a.body === "string"
            ? a.body
            : JSON.stringify(a.body),
          {
            status: a.status,
            headers: {
              "replay-nonce": `nonce-${++nonce}`,
              "content-type": typeof a.body === "string"
                ? "text/html"
                : "application/problem+json",
              ...a.headers,
            },
          },
        );
      if (path === "/dir") {
        return answer(
          options.directory?.(base) ?? {
            status: 200,
            body: {
              newNonce: `${base}/nonce`,
              newAccount: `${base}/account`,
              newOrder: `${base}/order`,
            },
          },
        );
      }
      if (path === "/nonce") {
        counts.nonce++;
        return answer({ status: 200 });
      }
      if (path === "/account") {
        counts.account++;
        return answer(
          options.onAccount?.(counts.account) ?? {
            status: 201,
            headers: { location: `${base}/account/1` },
            body: { status: "valid" },
          },
        );
      }
      if (path === "/order") {
        counts.order++;
        return answer(options.onOrder(counts.order));
      }
      return answer({ status: 404, body: "not found" });
    },
  );
  return {
    directoryUrl: `http://127.0.0.1:${server.addr.port}/dir`,
    counts,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

async function order(directoryUrl: string): Promise<OrderResult> {
  return await orderCertificate({
    directoryUrl,
    accountKeyPem: await createAccountKeyPem(),
    email: "ops@example.com",
    host: "app.example.com",
    publish: () => Promise.reject(new Error("never reached")),
    unpublish: () => Promise.resolve(),
    orderTimeoutMs: 20_000,
  });
}

function failureOf(result: OrderResult) {
  if (result.ok) throw new Error("the order succeeded");
  return result.failure;
}

const RATE_LIMITED = {
  type: "urn:ietf:params:acme:error:rateLimited",
  detail:
    "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s",
};

Deno.test("a 429 with Retry-After is rateLimited with its delay, asked once, and the scheduler waits that long", async () => {
  await using acme = fakeAcme({
    onOrder: () => ({
      status: 429,
      headers: { "retry-after": "3600" },
      body: RATE_LIMITED,
    }),
  });
  const failure = failureOf(await order(acme.directoryUrl));
  deepStrictEqual(
    {
      kind: failure.kind,
      retryAfterMs: failure.kind === "rateLimited" ? failure.retryAfterMs : "?",
    },
    { kind: "rateLimited", retryAfterMs: 3_600_000 },
  );
  match(failure.message, /rate limit.*168h.*wait 60 min/);
  strictEqual(acme.counts.order, 1, "acme-client must not retry by itself");
  const now = Date.now();
  strictEqual(
    nextOrderAtMs(afterFailure(newHostState("app.example.com"), failure, now)),
    now + 3_600_000,
  );
});

Deno.test("Retry-After as an HTTP date, and a rateLimited problem without the header", async () => {
  const at = new Date(Date.now() + 2 * 3600_000);
  at.setMilliseconds(0);
  await using dated = fakeAcme({
    onOrder: () => ({
      status: 429,
      headers: { "retry-after": at.toUTCString() },
      body: RATE_LIMITED,
    }),
  });
  const byDate = failureOf(await order(dated.directoryUrl));
  ok(byDate.kind === "rateLimited" && byDate.retryAfterMs !== null);
  ok(
    Math.abs(byDate.retryAfterMs - 2 * 3600_000) < 5_000,
    String(byDate.retryAfterMs),
  );

  // A CA may send the problem type with another status and no header.
  await using bare = fakeAcme({
    onOrder: () => ({ status: 403, body: RATE_LIMITED }),
  });
  const noHeader = failureOf(await order(bare.directoryUrl));
  deepStrictEqual(
    [
      noHeader.kind,
      noHeader.kind === "rateLimited" ? noHeader.retryAfterMs : "?",
    ],
    ["rateLimited", null],
  );
  match(noHeader.message, /did not say for how long/);
});

Deno.test("a bad nonce is re-signed and sent again inside acme-client", async () => {
  await using acme = fakeAcme({
    onOrder: (count) =>
      count === 1
        ? {
          status: 400,
          body: {
            type: "urn:ietf:params:acme:error:badNonce",
            detail: "JWS has an invalid anti-replay nonce",
          },
        }
        : { status: 429, body: RATE_LIMITED },
  });
  strictEqual(failureOf(await order(acme.directoryUrl)).kind, "rateLimited");
  strictEqual(acme.counts.order, 2);
});

Deno.test("a 5xx fails the order at once, with the CA's words and Retry-After", async () => {
  await using acme = fakeAcme({
    onOrder: () => ({
      status: 503,
      headers: { "retry-after": "30" },
      body: {
        type: "urn:ietf:params:acme:error:serverInternal",
        detail: "the service is down for maintenance",
      },
    }),
  });
  const failure = failureOf(await order(acme.directoryUrl));
  deepStrictEqual(
    [failure.kind, failure.kind === "serverError" ? failure.retryAfterMs : "?"],
    ["serverError", 30_000],
  );
  match(
    failure.message,
    /HTTP 503: the service is down for maintenance.*not before the 30 s it asks/,
  );
  strictEqual(acme.counts.order, 1);
  const now = Date.now();
  // 30 s is shorter than the first backoff, which stands.
  strictEqual(
    nextOrderAtMs(afterFailure(newHostState("app.example.com"), failure, now)),
    now + 60_000,
  );
});

Deno.test("a refused account is rejected with the problem", async () => {
  await using acme = fakeAcme({
    onAccount: () => ({
      status: 400,
      body: {
        type: "urn:ietf:params:acme:error:invalidContact",
        detail: "contact email has forbidden domain",
      },
    }),
    onOrder: () => ({ status: 500 }),
  });
  const result = await order(acme.directoryUrl);
  ok(!result.ok);
  strictEqual(result.accountUrl, null);
  deepStrictEqual(
    [
      result.failure.kind,
      result.failure.kind === "rejected" ? result.failure.problemType : "",
    ],
    ["rejected", "urn:ietf:params:acme:error:invalidContact"],
  );
  match(
    result.failure.message,
    /invalidContact: contact email has forbidden domain/,
  );
  strictEqual(acme.counts.order, 0);
});

Deno.test("a URL that is no ACME directory is badDirectory; nothing listening is network", async () => {
  await using html = fakeAcme({
    directory: () => ({ status: 200, body: "<html>welcome</html>" }),
    onOrder: () => ({ status: 500 }),
  });
  const notJson = failureOf(await order(html.directoryUrl));
  strictEqual(notJson.kind, "badDirectory");
  match(
    notJson.message,
    /is not an ACME directory: no newNonce, newAccount, newOrder/,
  );
  match(notJson.message, /directory URL/);

  await using missing = fakeAcme({ onOrder: () => ({ status: 500 }) });
  const notFound = failureOf(
    await order(missing.directoryUrl.replace("/dir", "/directory")),
  );
  strictEqual(notFound.kind, "badDirectory");
  match(notFound.message, /HTTP 404/);

  const nobody = failureOf(await order(`http://127.0.0.1:${freePort()}/dir`));
  strictEqual(nobody.kind, "network");
  match(nobody.message, /could not be reached.*refused/i);
});

Deno.test("a host HTTP-01 cannot validate is badHost before anything is sent", async () => {
  for (
    const host of [
      "*.example.com",
      "10.0.0.1",
      "localhost",
      "Upper.example.com",
      "-a.example.com",
    ]
  ) {
    const result = await orderCertificate({
      directoryUrl: `http://127.0.0.1:${freePort()}/dir`,
      accountKeyPem: "unused",
      email: null,
      host,
      publish: () => Promise.resolve(),
      unpublish: () => Promise.resolve(),
    });
    ok(!result.ok);
    strictEqual(result.failure.kind, "badHost", host);
  }
});
