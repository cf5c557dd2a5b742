/**
 * The peer port over real TLS: a node certificate of the cluster CA opens
 * it, no certificate does not, and the certificate of a removed node is
 * refused as soon as the state says so.
 */
import { assertEquals } from "../../containerd/_assert_test.ts";
import { jsonResponse } from "../api/mod.ts";
import { PeerServer } from "./peer_server.ts";
import { testPki } from "./pki_testing.ts";

Deno.test("the peer port refuses a removed node's certificate with 403 peer.node_removed", async () => {
  const pki = await testPki();
  const serverTls = await pki.nodeTls("n1");
  const removed = new Set<string>();
  const server = new PeerServer({
    listen: { hostname: "127.0.0.1", port: 0 },
    tls: () => ({ ...serverTls, clientCaPem: pki.ca.certPem }),
    revoked: (id) => removed.has(id),
    log: () => {},
  });
  server.router.add(
    "GET",
    "/peer/v1/who",
    (_request, context) => jsonResponse({ caller: context.caller?.nodeId }),
    { scope: "node" },
  );
  await server.start();
  const n2 = pki.client(await pki.nodeTls("n2"));
  const n3 = pki.client(await pki.nodeTls("n3"));
  const anonymous = pki.client();
  const url = `https://127.0.0.1:${server.port}/peer/v1/who`;
  const call = async (client: Deno.HttpClient) => {
    const response = await fetch(url, { client });
    return { status: response.status, body: await response.json() };
  };
  try {
    assertEquals(await call(n3), { status: 200, body: { caller: "n3" } });
    removed.add("n3");
    const refused = await call(n3);
    assertEquals(refused.status, 403);
    assertEquals(refused.body.code, "peer.node_removed");
    assertEquals(await call(n2), { status: 200, body: { caller: "n2" } });
    assertEquals((await call(anonymous)).status, 401);
  } finally {
    for (const client of [n2, n3, anonymous]) client.close();
    await server.stop();
  }
});
