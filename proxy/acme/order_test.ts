/**
 * Orders against a real ACME server (Debian's pebble): the challenge really
 * fetched from a test HTTP-01 server, the chain checked against pebble's
 * issuing root, failures typed as the CA reported them.
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { createAccountKeyPem } from "./_acme_client.ts";
import { chainLeadsTo } from "./certificate.ts";
import {
  orderCertificate,
  type OrderRequest,
  type OrderResult,
} from "./order.ts";
import {
  orderDeadlineMs,
  type OrderLease,
  releaseLease,
  takeLease,
} from "./lease.ts";
import {
  freePort,
  type Pebble,
  serveChallenges,
  startPebble,
} from "./pebble_testing.ts";
import {
  afterFailure,
  afterSuccess,
  newHostState,
  nextOrderAtMs,
  planOrders,
  renewalTimeMs,
} from "./renewal.ts";

const HOST = "app.mill.test";

async function withPebble(
  options: {
    validitySeconds?: number;
    authzReusePercent?: number;
    challengePort?: number;
  },
  body: (
    pebble: Pebble,
    challenges: ReturnType<typeof serveChallenges>,
  ) => Promise<void>,
): Promise<void> {
  const challenges = serveChallenges();
  try {
    const pebble = await startPebble({
      httpPort: options.challengePort ?? challenges.port,
      ...(options.validitySeconds === undefined
        ? {}
        : { validitySeconds: options.validitySeconds }),
      ...(options.authzReusePercent === undefined
        ? {}
        : { authzReusePercent: options.authzReusePercent }),
    });
    try {
      await body(pebble, challenges);
    } catch (error) {
      console.error(pebble.log().slice(-3000));
      throw error;
    } finally {
      await pebble.stop();
    }
  } finally {
    await challenges.stop();
  }
}

/** An order request publishing into the test's challenge server. */
function requestFor(
  pebble: Pebble,
  challenges: ReturnType<typeof serveChallenges>,
  accountKeyPem: string,
  overrides: Partial<OrderRequest> = {},
): OrderRequest & { published: string[]; unpublished: string[] } {
  const published: string[] = [];
  const unpublished: string[] = [];
  return {
    directoryUrl: pebble.directoryUrl,
    caBundle: pebble.caBundle,
    accountKeyPem,
    email: "ops@example.com",
    host: HOST,
    publish: (token, keyAuthorization) => {
      published.push(token);
      challenges.tokens.set(token, keyAuthorization);
      return Promise.resolve();
    },
    unpublish: (token) => {
      unpublished.push(token);
      challenges.tokens.delete(token);
      return Promise.resolve();
    },
    orderTimeoutMs: 30_000,
    ...overrides,
    published,
    unpublished,
  };
}

function issued(result: OrderResult) {
  if (!result.ok) {
    throw new Error(`order failed: ${JSON.stringify(result.failure)}`);
  }
  return result;
}

Deno.test("a certificate is issued over a real HTTP-01 fetch and chains to pebble's root", async () => {
  await withPebble({}, async (pebble, challenges) => {
    const request = requestFor(pebble, challenges, await createAccountKeyPem());
    const before = Date.now();
    const result = issued(await orderCertificate(request));
    const { certificate } = result;
    // The CA fetched the token we published, and it was removed after.
    strictEqual(request.published.length, 1);
    ok(
      challenges.requests.includes(
        `/.well-known/acme-challenge/${request.published[0]}`,
      ),
    );
    deepStrictEqual(request.unpublished, request.published);
    strictEqual(challenges.tokens.size, 0);
    // What the certificate says.
    deepStrictEqual(certificate.info.names, [HOST]);
    match(certificate.info.issuer, /Pebble Intermediate CA/);
    ok(certificate.info.notBeforeMs <= before + 60_000);
    ok(certificate.info.notAfterMs > Date.now() + 365 * 24 * 3600_000);
    ok(certificate.info.chainLength >= 2);
    match(certificate.keyPem, /BEGIN PRIVATE KEY/);
    // Signed by pebble's issuing root, not by the directory's TLS CA.
    ok(chainLeadsTo(certificate.chainPem, await pebble.issuingRoot()));
    ok(!chainLeadsTo(certificate.chainPem, pebble.caBundle));
    match(result.accountUrl, /^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
  });
});

Deno.test("the account key is reused: a second order finds the same account", async () => {
  // Authorizations always reused: the second order needs no new challenge.
  await withPebble({ authzReusePercent: 100 }, async (pebble, challenges) => {
    const key = await createAccountKeyPem();
    const first = issued(
      await orderCertificate(requestFor(pebble, challenges, key)),
    );
    const second = requestFor(pebble, challenges, key);
    const again = issued(await orderCertificate(second));
    strictEqual(again.accountUrl, first.accountUrl);
    strictEqual(
      second.published.length,
      0,
      "a reused authorization needs no token",
    );
    // A new key for the same certificate each time.
    ok(again.certificate.keyPem !== first.certificate.keyPem);
    // Given the account URL, the lookup by key is skipped; same account.
    const third = issued(
      await orderCertificate(
        requestFor(pebble, challenges, key, { accountUrl: first.accountUrl }),
      ),
    );
    strictEqual(third.accountUrl, first.accountUrl);
    // Another key is another account.
    const other = issued(
      await orderCertificate(
        requestFor(pebble, challenges, await createAccountKeyPem()),
      ),
    );
    ok(other.accountUrl !== first.accountUrl);
  });
});

Deno.test("an unreachable challenge is a challengeFailed with the CA's detail, then backed off", async () => {
  // pebble fetches challenges from a port where nothing listens.
  await withPebble(
    { challengePort: freePort() },
    async (pebble, challenges) => {
      const request = requestFor(
        pebble,
        challenges,
        await createAccountKeyPem(),
      );
      const result = await orderCertificate(request);
      ok(!result.ok);
      const { failure } = result;
      strictEqual(failure.kind, "challengeFailed");
      if (failure.kind !== "challengeFailed") return;
      match(failure.detail, /connection refused/i);
      match(failure.message, /could not fetch the HTTP-01 challenge/);
      deepStrictEqual(request.unpublished, request.published);
      ok(result.accountUrl !== null);
      // The scheduler retries after the backoff, and reports the error.
      const now = Date.now();
      const state = afterFailure(newHostState(HOST), failure, now);
      deepStrictEqual(planOrders([state], now).due, []);
      deepStrictEqual(planOrders([state], now + 60_000).due, [HOST]);
      strictEqual(state.lastError?.kind, "challengeFailed");
      match(state.lastError?.message ?? "", /connection refused/i);
    },
  );
});

Deno.test("a short-lived certificate is renewed when a third of its life is left", async () => {
  await withPebble({ validitySeconds: 600 }, async (pebble, challenges) => {
    const { certificate } = issued(
      await orderCertificate(
        requestFor(pebble, challenges, await createAccountKeyPem()),
      ),
    );
    const { notBeforeMs, notAfterMs, issuer } = certificate.info;
    // About 600 s (pebble's notAfter is inclusive: 599 s after notBefore).
    ok(
      notAfterMs - notBeforeMs >= 590_000 && notAfterMs - notBeforeMs < 700_000,
    );
    const state = afterSuccess(newHostState(HOST), {
      notBeforeMs,
      notAfterMs,
      issuer,
    }, Date.now());
    const renewAt = renewalTimeMs(state.certificate!);
    strictEqual(nextOrderAtMs(state), renewAt);
    ok(Math.abs(notAfterMs - renewAt - (notAfterMs - notBeforeMs) / 3) < 1);
    deepStrictEqual(planOrders([state], Date.now()).due, []);
    deepStrictEqual(planOrders([state], renewAt).due, [HOST]);
    // ...and the renewal itself is just another order.
    const renewed = issued(
      await orderCertificate(
        requestFor(pebble, challenges, await createAccountKeyPem()),
      ),
    );
    ok(renewed.certificate.info.serialNumber !== certificate.info.serialNumber);
  });
});

Deno.test("the directory's CA is trusted only when given: without it, a network failure", async () => {
  await withPebble({}, async (pebble, challenges) => {
    const { caBundle: _, ...untrusting } = requestFor(
      pebble,
      challenges,
      await createAccountKeyPem(),
    );
    const result = await orderCertificate(untrusting);
    ok(!result.ok);
    strictEqual(result.failure.kind, "network");
    match(result.failure.message, /certificate|issuer/i);
    strictEqual(result.accountUrl, null);
  });
});

Deno.test("a cancelled order stops, says so and unpublishes its token", async () => {
  await withPebble(
    { challengePort: freePort() },
    async (pebble, challenges) => {
      const controller = new AbortController();
      const request = requestFor(
        pebble,
        challenges,
        await createAccountKeyPem(),
        {
          signal: controller.signal,
        },
      );
      const publish = request.publish;
      const result = await orderCertificate({
        ...request,
        publish: async (token, keyAuthorization) => {
          await publish(token, keyAuthorization);
          controller.abort();
        },
      });
      ok(!result.ok);
      strictEqual(result.failure.kind, "aborted");
      strictEqual(request.published.length, 1);
      deepStrictEqual(request.unpublished, request.published);
    },
  );
});

Deno.test("a node killed mid-order: the next waits out its lease, and one certificate is issued", async () => {
  await withPebble({}, async (pebble, challenges) => {
    const accountKeyPem = await createAccountKeyPem();
    // The cluster state, as far as this test goes: the lease and the tokens.
    const timing = { orderTimeoutMs: 3000, marginMs: 1000 };
    let lease: OrderLease | null = null;
    const take = (holder: string) => {
      const decision = takeLease(lease, {
        holder,
        host: HOST,
        nowMs: Date.now(),
        ...timing,
      });
      if (decision.granted) lease = decision.lease;
      return decision;
    };
    const first = take("node-a");
    ok(first.granted);
    // Node a orders in its own process, publishes its token, and is killed.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
        new URL("./order_child_testing.ts", import.meta.url).pathname,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify({
      directoryUrl: pebble.directoryUrl,
      caBundle: pebble.caBundle,
      accountKeyPem,
      email: null,
      host: HOST,
      deadlineMs: orderDeadlineMs(first.lease, timing.marginMs),
      hold: true,
    })));
    await writer.close();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("\n")) {
      const { done, value } = await lines.read();
      if (done) break;
      out += value;
    }
    lines.releaseLock();
    const { published } = JSON.parse(out);
    challenges.tokens.set(published.token, published.keyAuthorization);
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});

    // Node b cannot take the lease while node a's could still be ordering.
    const refused = take("node-b");
    ok(!refused.granted);
    strictEqual(refused.heldBy.holder, "node-a");
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, first.lease.expiresAtMs - Date.now()))
    );
    const second = take("node-b");
    ok(second.granted);
    const result = issued(
      await orderCertificate({
        ...requestFor(pebble, challenges, accountKeyPem),
        deadlineMs: orderDeadlineMs(second.lease, timing.marginMs),
      }),
    );
    lease = releaseLease(lease, "node-b");
    strictEqual(lease, null);
    deepStrictEqual(result.certificate.info.names, [HOST]);
    // Two orders at the CA (node a's left pending, to expire there), one certificate.
    const log = pebble.log();
    strictEqual(log.match(/Added order/g)?.length, 2);
    strictEqual(log.match(/Issued certificate serial/g)?.length, 1);
  });
});
