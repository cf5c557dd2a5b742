/**
 * `mill token rotate`: a rotated token works at once on the leader, and the
 * one it replaced stops working at once; the CLI context follows an admin
 * rotation.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { bufferOutput, runCli } from "../../cli/mod.ts";
import { CONTEXT_PATH_ENV } from "../../cli/_api.ts";
import { startAgentBed, waitFor } from "./_bed.ts";

async function mill(...args: string[]) {
  const output = bufferOutput();
  const code = await runCli(args, output);
  return { code, stdout: output.stdout(), stderr: output.stderr() };
}

Deno.test("mill token rotate replaces the join and admin tokens on the spot", async (t) => {
  const bed = await startAgentBed();
  const previous = Deno.env.get(CONTEXT_PATH_ENV);
  Deno.env.set(CONTEXT_PATH_ENV, bed.contextPath);
  const client = Deno.createHttpClient({ caCerts: [bed.cluster.caCertPem] });
  const call = async (path: string, token: string, method = "GET") => {
    const response = await fetch(`${bed.agent.apiUrl}${path}`, {
      method,
      client,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
      },
      ...(method === "POST" ? { body: "{}" } : {}),
    });
    await response.body?.cancel();
    return response.status;
  };
  try {
    await waitFor(
      "the node leading",
      () => bed.agent.leader?.isLeader === true,
    );

    await t.step("an unknown token kind is a usage error", async () => {
      const refused = await mill("token", "rotate", "rpc");
      assertEquals(refused.code, 2);
      assertTrue(refused.stderr.includes('"join" or "admin"'), refused.stderr);
    });

    await t.step(
      "join: the new token is accepted, the old one refused",
      async () => {
        const rotated = await mill("token", "rotate", "join", "--json");
        assertEquals(rotated.code, 0, rotated.stderr);
        const { joinToken } = JSON.parse(rotated.stdout);
        const [token, fingerprint] = String(joinToken).split(".");
        assertEquals(fingerprint?.length, 64);
        // A malformed join body is a 400 once authenticated, a 401 otherwise.
        assertEquals(
          await call("/v1/join", bed.cluster.joinToken, "POST"),
          401,
        );
        assertEquals(await call("/v1/join", token!, "POST"), 400);
        assertTrue(!JSON.stringify(bed.agent.state()).includes(token!));
      },
    );

    await t.step(
      "admin: the CLI context follows, the old token is refused",
      async () => {
        const rotated = await mill("token", "rotate", "admin");
        assertEquals(rotated.code, 0, rotated.stderr);
        assertEquals(await call("/v1/status", bed.cluster.adminToken), 401);
        const status = await mill("status", "--json");
        assertEquals(status.code, 0, status.stderr);
      },
    );
  } finally {
    client.close();
    if (previous === undefined) Deno.env.delete(CONTEXT_PATH_ENV);
    else Deno.env.set(CONTEXT_PATH_ENV, previous);
    await bed.stop();
  }
});
