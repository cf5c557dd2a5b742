/**
 * The `do` driver's failures against the fake DigitalOcean: each API
 * error becomes the StorageError a caller can act on, with a message a user
 * can, and never the token.
 */

import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import {
  GIB,
  isRoot,
  rejectsWith,
  TOKEN,
  withBed,
} from "./do_driver_testing.ts";

const READ_ONLY = "dop_v1_readonly0123456789";

Deno.test("do driver: a wrong token is a 401 told as such, the token never shown", async () => {
  await withBed({}, async ({ driverWith, fake }) => {
    const wrong = `${TOKEN}-revoked`;
    const driver = driverWith({ token: () => wrong });
    const error = await rejectsWith(
      driver.create({ name: "data", sizeBytes: GIB, tags: [] }),
      "storage.unauthorized",
      "wrong or revoked",
    );
    assert(
      error.message.includes("mill secret set digitalocean-token"),
      error.message,
    );
    assert(!error.message.includes(wrong), error.message);
    await rejectsWith(driver.list(), "storage.unauthorized");
    assertEquals(fake.state().volumes, []);
    // The fake's own answer, as the reference's.
    const response = await fetch(`${fake.url}/v2/volumes`, {
      headers: { authorization: `Bearer ${wrong}` },
    });
    assertEquals(response.status, 401);
    assertEquals(await response.json(), {
      id: "unauthorized",
      message: "Unable to authenticate you",
    });
  });
});

Deno.test("do driver: a token without the volume scope is a 403 told as such", async () => {
  await withBed(
    { otherTokens: [{ token: READ_ONLY, scopes: ["read"] }] },
    async ({ driverWith, fake }) => {
      const driver = driverWith({ token: () => READ_ONLY });
      assertEquals(await driver.list(), []); // reading is allowed
      const error = await rejectsWith(
        driver.create({ name: "data", sizeBytes: GIB, tags: [] }),
        "storage.unauthorized",
        "lacks the scope",
      );
      assert(!error.message.includes(READ_ONLY), error.message);
      const response = await fetch(`${fake.url}/v2/volumes`, {
        method: "POST",
        headers: { authorization: `Bearer ${READ_ONLY}` },
        body: "{}",
      });
      assertEquals(response.status, 403);
      assertEquals((await response.json()).id, "forbidden");
    },
  );
});

Deno.test("do driver: no token at all says how to set one", async () => {
  await withBed({}, async ({ driverWith }) => {
    const driver = driverWith({
      token: () => {
        throw new Error("secret digitalocean-token is not set");
      },
      tokenSecretName: "do-token",
    });
    await rejectsWith(
      driver.list(),
      "storage.unauthorized",
      "mill secret set do-token",
    );
  });
});

Deno.test("do driver: an unknown volume is null from get, fine to destroy, not found to attach", async () => {
  await withBed({}, async ({ driver }) => {
    const unknown = "6b1f8d4e-0000-4000-8000-000000000000";
    assertEquals(await driver.get(unknown), null);
    await driver.destroy(unknown);
    await rejectsWith(driver.attach(unknown, "101"), "storage.not_found");
    await rejectsWith(
      driver.attach(unknown, "not-a-droplet"),
      "storage.invalid",
    );
  });
});

Deno.test("do driver: a bad name or size is refused before any request", async () => {
  await withBed({}, async ({ driver, fake }) => {
    await rejectsWith(
      driver.create({ name: "Data_1", sizeBytes: GIB, tags: [] }),
      "storage.invalid",
      "lowercase",
    );
    await rejectsWith(
      driver.create({ name: "data", sizeBytes: 17_000 * GIB, tags: [] }),
      "storage.invalid",
      "16 TiB",
    );
    assertEquals(fake.requests(), []);
  });
});

Deno.test("do driver: a create in a region without Block Storage is refused clearly", async () => {
  await withBed({}, async ({ driver }) => {
    await rejectsWith(
      driver.create({ name: "data", sizeBytes: GIB, tags: [], region: "sgp1" }),
      "storage.invalid",
      "Storage is not supported for this region",
    );
  });
});

Deno.test({
  name:
    "do driver: attaching to a droplet of another region is storage.region_mismatch",
  ignore: !isRoot,
  async fn() {
    await withBed({}, async ({ driver }) => {
      const volume = await driver.create({
        name: "data",
        sizeBytes: GIB,
        tags: [],
      });
      await rejectsWith(
        driver.attach(volume.id, "201"),
        "storage.region_mismatch",
        "the volume is in nyc1 but the droplet is in fra1",
      );
      await driver.destroy(volume.id);
    });
  },
});

Deno.test({
  name:
    "do driver: a volume attached elsewhere is storage.attached_elsewhere, also when the API finds out (422)",
  ignore: !isRoot,
  async fn() {
    await withBed(
      { actionDelayMs: { attach: 200 } },
      async ({ driver, fake }) => {
        const volume = await driver.create({
          name: "data",
          sizeBytes: GIB,
          tags: [],
        });
        // Another client starts attaching it to 101; while that is in
        // progress the volume looks detached, and the API refuses ours.
        const started = await fetch(
          `${fake.url}/v2/volumes/${volume.id}/actions`,
          {
            method: "POST",
            headers: {
              authorization: `Bearer ${TOKEN}`,
              "content-type": "application/json",
            },
            body: JSON.stringify({
              type: "attach",
              droplet_id: 101,
              region: "nyc1",
            }),
          },
        );
        assertEquals(started.status, 202);
        await started.body?.cancel();
        await rejectsWith(
          driver.attach(volume.id, "102"),
          "storage.attached_elsewhere",
          "attached to droplet 101",
        );
        assert(
          fake.requests().some((r) => r.status === 422),
          "the API said 422",
        );
        // Once attached, the driver sees it before asking.
        await rejectsWith(
          driver.attach(volume.id, "102"),
          "storage.attached_elsewhere",
        );
        // Detaching from a droplet it is not attached to is a no-op.
        assertEquals((await driver.detach(volume.id, "102")).attachedTo, "101");
        await rejectsWith(driver.destroy(volume.id), "storage.attached");
        await driver.detach(volume.id, "101");
        await driver.destroy(volume.id);
      },
    );
  },
});

Deno.test({
  name: "do driver: the per-droplet volume limit is storage.limit",
  ignore: !isRoot,
  async fn() {
    await withBed({ perDropletVolumeLimit: 2 }, async ({ driver }) => {
      const volumes = [];
      for (const name of ["data-a", "data-b", "data-c"]) {
        volumes.push(await driver.create({ name, sizeBytes: GIB, tags: [] }));
      }
      await driver.attach(volumes[0]!.id, "101");
      await driver.attach(volumes[1]!.id, "101");
      await rejectsWith(
        driver.attach(volumes[2]!.id, "101"),
        "storage.limit",
        "droplet 101 already has as many volumes attached",
      );
      for (const v of volumes.slice(0, 2)) await driver.detach(v.id, "101");
      for (const v of volumes) await driver.destroy(v.id);
    });
  },
});

Deno.test({
  name: "do driver: an errored action is a clear storage.unavailable",
  ignore: !isRoot,
  async fn() {
    await withBed({}, async ({ driver, fake }) => {
      const volume = await driver.create({
        name: "data",
        sizeBytes: GIB,
        tags: [],
      });
      fake.inject.actionErrors(1);
      await rejectsWith(
        driver.attach(volume.id, "101"),
        "storage.unavailable",
        "attach_volume action",
      );
      assertEquals((await driver.get(volume.id))?.attachedTo, null);
      // The next one goes through.
      assertEquals((await driver.attach(volume.id, "101")).attachedTo, "101");
      await driver.detach(volume.id, "101");
      await driver.destroy(volume.id);
    });
  },
});

Deno.test("do driver: a 429 is waited out as Retry-After says, then the call succeeds", async () => {
  await withBed({}, async ({ driver, fake, logs }) => {
    fake.inject.tooManyRequests(2, 1);
    const volume = await driver.create({
      name: "data",
      sizeBytes: GIB,
      tags: [],
    });
    assertEquals(fake.requests().filter((r) => r.status === 429).length, 2);
    assertEquals(fake.state().volumes.length, 1);
    assert(logs.some((l) => l.includes("waiting 1s")), logs.join("\n"));
    await driver.destroy(volume.id);
  });
});

Deno.test("do driver: a 429 asking to wait too long is storage.rate_limited with retryAfterMs", async () => {
  await withBed({}, async ({ driverWith, fake }) => {
    const driver = driverWith({ maxRateLimitWaitMs: 5_000 });
    fake.inject.tooManyRequests(1, 120);
    const error = await rejectsWith(
      driver.list(),
      "storage.rate_limited",
      "120s",
    );
    assertEquals(error.retryAfterMs, 120_000);
  });
});

Deno.test("do driver: the fake's burst limit answers 429 with Retry-After and rate headers", async () => {
  await withBed(
    { rateLimit: { burst: 2, retryAfterSeconds: 1 } },
    async ({ fake }) => {
      const statuses = [];
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${fake.url}/v2/volumes`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        statuses.push(response.status);
        assert(response.headers.get("ratelimit-limit") !== null);
        assert(response.headers.get("ratelimit-reset") !== null);
        if (response.status === 429) {
          assertEquals(response.headers.get("retry-after"), "1");
          assertEquals(response.headers.get("ratelimit-remaining"), "0");
        }
        await response.body?.cancel();
      }
      assertEquals(statuses, [200, 200, 429]);
    },
  );
});

Deno.test("do driver: a create whose answer was lost finds the volume by name instead of making two", async () => {
  await withBed({}, async ({ driver, fake }) => {
    fake.inject.serverErrors(1, {
      method: "POST",
      afterHandling: true,
      status: 503,
    });
    const volume = await driver.create({
      name: "data",
      sizeBytes: GIB,
      tags: [],
    });
    assertEquals(fake.state().volumes.length, 1);
    assertEquals(volume.name, "data");
    const posts = fake.requests().filter((r) => r.method === "POST");
    assertEquals(posts.map((r) => r.status), [503]);
    assert(
      fake.requests().some((r) => r.target.startsWith("/v2/volumes?name=data")),
    );
    await driver.destroy(volume.id);
  });
});

Deno.test("do driver: a create refused by a 5xx before it happened is tried again", async () => {
  await withBed({}, async ({ driver, fake }) => {
    fake.inject.serverErrors(1, { method: "POST", status: 500 });
    const volume = await driver.create({
      name: "data",
      sizeBytes: GIB,
      tags: [],
    });
    assertEquals(
      fake.requests().filter((r) => r.method === "POST").map((r) => r.status),
      [500, 201],
    );
    await driver.destroy(volume.id);
  });
});

Deno.test("do driver: GETs are retried through 5xx; too many are storage.unavailable", async () => {
  await withBed({}, async ({ driver, fake }) => {
    fake.inject.serverErrors(2, { method: "GET", status: 502 });
    assertEquals(await driver.list(), []);
    fake.inject.serverErrors(10, { method: "GET", status: 502 });
    await rejectsWith(driver.list(), "storage.unavailable", "HTTP 502");
  });
});

Deno.test("do driver: an unreachable API is storage.unavailable", async () => {
  await withBed({}, async ({ driverWith }) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    const driver = driverWith({
      apiBase: `http://127.0.0.1:${port}`,
      serverErrorRetries: 1,
    });
    await rejectsWith(driver.list(), "storage.unavailable", "try again later");
  });
});

Deno.test("do driver: a name taken by another cluster's volume is refused; ours is the same volume", async () => {
  await withBed({}, async ({ driver, driverWith }) => {
    const ours = await driver.create({
      name: "data",
      sizeBytes: GIB,
      tags: [],
    });
    assertEquals(
      (await driver.create({ name: "data", sizeBytes: GIB, tags: [] })).id,
      ours.id,
    );
    const other = driverWith({ clusterTag: "another-cluster" });
    await rejectsWith(
      other.create({ name: "data", sizeBytes: GIB, tags: [] }),
      "storage.invalid",
      "not this cluster's",
    );
    await driver.destroy(ours.id);
  });
});
