/**
 * Pulls against misbehaving and protected registries: corrupted blobs,
 * unknown images, unreachable or HTTPS-only registries, basic auth, token
 * auth and bearer tokens; each failure typed, naming the image, and leaving
 * nothing behind in containerd.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { ContainerdClient, ImageService } from "../../containerd/mod.ts";
import {
  freePort,
  pushTestImages,
  startRegistry,
  startTestBed,
  type TestBed,
} from "./testbed.ts";
import { startRegistryProxy } from "./_proxy.ts";
import { expectCode, leftovers, NOTHING } from "./_helpers.ts";

Deno.test("image pulls fail cleanly and typed against bad, unreachable and protected registries", async (t) => {
  const bed: TestBed = await startTestBed();
  const client = new ContainerdClient(bed.containerd.socketPath);
  const images = new ImageService(client, { insecure: [bed.registry.host] });
  try {
    await t.step(
      "a blob whose digest does not match fails the pull and leaves nothing",
      async () => {
        const proxy = startRegistryProxy(bed.registry.host, {
          kind: "corrupt",
          blobBytesMin: 100_000,
        });
        try {
          const corrupt = new ImageService(client, { insecure: [proxy.host] });
          const reference = `${proxy.host}/mill-test/crash:1`;
          await expectCode(
            "image.digest_mismatch",
            reference,
            () => corrupt.pull(reference),
          );
          assertEquals(await leftovers(client), NOTHING);
          assertEquals(await client.listSnapshots(), []);
          assertEquals(await client.listImages(), []);
          // Only blobs the garbage collector has not yet reached may remain; never the corrupt one.
          const content = (await client.listContent()).map((c) => c.size);
          assertTrue(
            content.every((size) => size < 100_000),
            "no layer blob was kept",
          );
        } finally {
          await proxy.stop();
        }
      },
    );

    await t.step(
      "unknown images and unreachable registries fail with typed errors",
      async () => {
        const unknown = `${bed.registry.host}/mill-test/missing:1`;
        await expectCode(
          "image.not_found",
          unknown,
          () => images.pull(unknown),
        );
        const unreachable = `127.0.0.1:${freePort()}/mill-test/crash:1`;
        const far = new ImageService(client, {
          insecure: [unreachable.split("/")[0]!],
        });
        await expectCode(
          "image.registry_unreachable",
          unreachable,
          () => far.pull(unreachable),
        );
        // Not marked insecure: HTTPS only, which a plain-HTTP registry cannot answer.
        const strict = new ImageService(client);
        await expectCode(
          "image.registry_unreachable",
          bed.images.sleeper,
          () => strict.pull(bed.images.sleeper),
        );
        await expectCode(
          "image.reference_invalid",
          "Bad/Name",
          () => images.pull("Bad/Name"),
        );
        assertEquals(await client.getImage(bed.images.sleeper), undefined);
        assertEquals(await leftovers(client), NOTHING);
      },
    );

    await t.step(
      "basic auth: the right credentials pull, wrong ones fail as unauthorized",
      async () => {
        const credentials = { username: "mill", password: "s3cret" };
        const registry = await startRegistry({ credentials });
        try {
          const pushed = await pushTestImages(bed.layoutDir, registry.host, {
            credentials,
          });
          const wrong = new ImageService(client, {
            insecure: [registry.host],
            credentials: {
              [registry.host]: { username: "mill", password: "wrong" },
            },
          });
          await expectCode(
            "image.unauthorized",
            pushed.sleeper,
            () => wrong.pull(pushed.sleeper),
          );
          const none = new ImageService(client, { insecure: [registry.host] });
          await expectCode(
            "image.unauthorized",
            pushed.sleeper,
            () => none.pull(pushed.sleeper),
          );
          const right = new ImageService(client, {
            insecure: [registry.host],
            credentials: { [registry.host]: credentials },
          });
          const image = await right.pull(pushed.sleeper);
          assertEquals(image.name, pushed.sleeper);
          assertEquals(await leftovers(client), NOTHING);
        } finally {
          await registry.stop();
        }
      },
    );

    await t.step(
      "a registry with token auth: bearer tokens for the right credentials, unauthorized for wrong ones",
      async () => {
        const credentials = { username: "tok", password: "en" };
        const registry = await startRegistry({ credentials, auth: "token" });
        try {
          const pushed = await pushTestImages(bed.layoutDir, registry.host, {
            credentials,
            only: ["sleeper"],
          });
          const wrong = new ImageService(client, {
            insecure: [registry.host],
            credentials: {
              [registry.host]: { username: "tok", password: "bad" },
            },
          });
          await expectCode(
            "image.unauthorized",
            pushed.sleeper,
            () => wrong.pull(pushed.sleeper),
          );
          const right = new ImageService(client, {
            insecure: [registry.host],
            credentials: { [registry.host]: credentials },
          });
          assertEquals((await right.pull(pushed.sleeper)).name, pushed.sleeper);
          assertEquals(await leftovers(client), NOTHING);
        } finally {
          await registry.stop();
        }
      },
    );

    await t.step(
      "bearer tokens are fetched from the realm with the configured credentials",
      async () => {
        const credentials = { username: "tok", password: "en" };
        const proxy = startRegistryProxy(bed.registry.host, {
          kind: "bearer",
          ...credentials,
        });
        try {
          const reference = `${proxy.host}/mill-test/crash:1`;
          const wrong = new ImageService(client, {
            insecure: [proxy.host],
            credentials: { [proxy.host]: { username: "tok", password: "bad" } },
          });
          await expectCode(
            "image.unauthorized",
            reference,
            () => wrong.pull(reference),
          );
          const right = new ImageService(client, {
            insecure: [proxy.host],
            credentials: { [proxy.host]: credentials },
          });
          assertEquals((await right.pull(reference)).name, reference);
        } finally {
          await proxy.stop();
        }
      },
    );

    await t.step(
      "afterwards nothing of the failed pulls is left, and deleting images empties containerd",
      async () => {
        assertEquals(await leftovers(client), NOTHING);
        for (const image of await client.listImages()) {
          await client.deleteImage(image.name);
        }
        assertEquals(await client.listSnapshots(), []);
        assertEquals(await client.listContent(), []);
      },
    );
  } finally {
    client.close();
    await bed.stop();
  }
});
