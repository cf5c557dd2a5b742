/**
 * The fake itself, over raw HTTP: the metadata service, pagination as the
 * reference describes it, the listener's bounds.
 */

import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import { startFakeDigitalOcean } from "./mod.ts";

const TOKEN = "dop_v1_fake-for-the-fake";

async function api(
  url: string,
  method = "GET",
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> | null }> {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${TOKEN}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    json: text === "" ? null : JSON.parse(text),
  };
}

Deno.test("fake DigitalOcean: the metadata service answers the droplet's id and region", async () => {
  const dir = await Deno.makeTempDir();
  const fake = await startFakeDigitalOcean({
    token: TOKEN,
    droplets: [
      { id: 101, region: "nyc1", byIdDir: dir },
      { id: 102, region: "nyc1", byIdDir: dir, name: "node-b", tags: ["mill"] },
    ],
    metadata: { dropletId: 102 },
  });
  try {
    const base = fake.metadataUrl!;
    assert(base !== fake.url);
    const text = async (path: string) => {
      const response = await fetch(`${base}${path}`, { redirect: "manual" });
      return {
        status: response.status,
        body: await response.text(),
        location: response.headers.get("location"),
      };
    };
    assertEquals((await text("/metadata/v1/id")).body, "102");
    assertEquals((await text("/metadata/v1/region")).body, "nyc1");
    assertEquals((await text("/metadata/v1/hostname")).body, "node-b");
    assertEquals((await text("/metadata/v1/tags/")).body, "mill\n");
    const moved = await text("/metadata/v1");
    assertEquals([moved.status, moved.location], [301, "/metadata/v1/"]);
    assert((await text("/metadata/v1/")).body.includes("region\n"));
    assertEquals((await text("/metadata/v1/nothing")).status, 404);
    const all = JSON.parse((await text("/metadata/v1.json")).body);
    assertEquals([all.droplet_id, all.region, all.hostname], [
      102,
      "nyc1",
      "node-b",
    ]);
  } finally {
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fake DigitalOcean: lists page by page with links and meta.total", async () => {
  const fake = await startFakeDigitalOcean({ token: TOKEN, droplets: [] });
  try {
    for (const name of ["a", "b", "c", "d", "e"]) {
      const created = await api(`${fake.url}/v2/volumes`, "POST", {
        name: `vol-${name}`,
        size_gigabytes: 1,
        region: "nyc1",
      });
      assertEquals(created.status, 201);
    }
    const first = await api(`${fake.url}/v2/volumes?per_page=2`);
    assertEquals((first.json!.volumes as unknown[]).length, 2);
    assertEquals(first.json!.meta, { total: 5 });
    const pages =
      (first.json!.links as { pages: Record<string, string> }).pages;
    assertEquals(Object.keys(pages).sort(), ["last", "next"]);
    assert(pages.next!.includes("page=2"));
    const last = await api(pages.last!);
    assertEquals((last.json!.volumes as unknown[]).length, 1);
    assertEquals(
      Object.keys((last.json!.links as { pages: Record<string, string> }).pages)
        .sort(),
      ["first", "prev"],
    );
    // Twenty per page unless told, and no links when one page holds all.
    const all = await api(`${fake.url}/v2/volumes`);
    assertEquals(all.json!.links, {});
    assertEquals(
      (await api(`${fake.url}/v2/volumes?per_page=201`)).status,
      400,
    );
    // Delete by name and region.
    assertEquals(
      (await api(`${fake.url}/v2/volumes?name=vol-a&region=nyc1`, "DELETE"))
        .status,
      204,
    );
    assertEquals(
      (await api(`${fake.url}/v2/volumes?name=vol-a&region=nyc1`, "DELETE"))
        .status,
      404,
    );
    assertEquals(fake.state().volumes.length, 4);
    for (const v of fake.state().volumes) {
      assertEquals(
        (await api(`${fake.url}/v2/volumes/${v.id}`, "DELETE")).status,
        204,
      );
    }
    assertEquals(await fake.leftovers(), {
      files: [],
      loopDevices: [],
      symlinks: [],
    });
  } finally {
    await fake.close();
  }
});

Deno.test("fake DigitalOcean: bodies, headers and idle connections are bounded", async () => {
  const fake = await startFakeDigitalOcean({
    token: TOKEN,
    droplets: [],
    limits: { bodyBytesMax: 1024, headersTimeoutMs: 200 },
  });
  try {
    const big = await fetch(`${fake.url}/v2/volumes`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: "x".repeat(4096),
    });
    assertEquals(big.status, 413);
    await big.body?.cancel();
    const huge = await fetch(`${fake.url}/v2/volumes`, {
      headers: {
        authorization: `Bearer ${TOKEN}`,
        "x-pad": "y".repeat(32 * 1024),
      },
    });
    assertEquals(huge.status, 431);
    await huge.body?.cancel();
    // A connection that never sends its headers is closed.
    const url = new URL(fake.url);
    const conn = await Deno.connect({
      hostname: url.hostname,
      port: Number(url.port),
    });
    await conn.write(new TextEncoder().encode("GET /v2/volumes HTTP/1.1\r\n"));
    const read = await conn.read(new Uint8Array(64)).catch(() => null);
    assertEquals(read, null);
    conn.close();
  } finally {
    await fake.close();
  }
});
