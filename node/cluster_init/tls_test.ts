/** The certificates `mill init` makes, checked by real TLS handshakes on loopback. */
import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import { type ClusterIdentity, initCluster } from "./init.ts";

async function withIdentities(
  run: (identity: ClusterIdentity, other: ClusterIdentity) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-tls-" });
  try {
    const base = {
      nodeName: "node-1",
      apiAddresses: ["127.0.0.1"],
      apiPort: 7443,
      contextPath: null,
      nowMs: Date.now(),
    };
    const identity = await initCluster({ ...base, dataDir: `${dir}/a` });
    const other = await initCluster({ ...base, dataDir: `${dir}/b` });
    await run(identity, other);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function withHttpsServer(
  identity: ClusterIdentity,
  run: (port: number) => Promise<void>,
) {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: identity.apiCertPem,
    key: identity.apiKeyPem,
    onListen: () => {},
    // Handshake failures are what some tests expect; keep them quiet.
    onError: () => new Response("error", { status: 500 }),
  }, () => new Response("hello"));
  try {
    await run(server.addr.port);
  } finally {
    await server.shutdown();
  }
}

async function get(url: string, caCertPem: string): Promise<string> {
  const client = Deno.createHttpClient({ caCerts: [caCertPem] });
  try {
    const response = await fetch(url, { client });
    return await response.text();
  } finally {
    client.close();
  }
}

Deno.test("the API certificate passes a TLS handshake for 127.0.0.1 and localhost with the cluster's CA", async () => {
  await withIdentities(async (identity) => {
    await withHttpsServer(identity, async (port) => {
      assertEquals(
        await get(`https://127.0.0.1:${port}/`, identity.caCertPem),
        "hello",
      );
      assertEquals(
        await get(`https://localhost:${port}/`, identity.caCertPem),
        "hello",
      );
    });
  });
});

Deno.test("the API certificate fails a TLS handshake with another cluster's CA", async () => {
  await withIdentities(async (identity, other) => {
    await withHttpsServer(identity, async (port) => {
      await assertRejects(() =>
        get(`https://127.0.0.1:${port}/`, other.caCertPem)
      );
    });
  });
});

Deno.test("the API certificate fails a TLS handshake for a name it does not carry", async () => {
  await withIdentities(async (identity) => {
    await withHttpsServer(identity, async (port) => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
      const tls = await Deno.startTls(tcp, {
        hostname: "not-this-node.example",
        caCerts: [identity.caCertPem],
      });
      try {
        await assertRejects(() => tls.handshake());
      } finally {
        tls.close();
      }
      const good = await Deno.connectTls({
        hostname: "localhost",
        port,
        caCerts: [identity.caCertPem],
      });
      try {
        await good.handshake();
      } finally {
        good.close();
      }
    });
  });
});
