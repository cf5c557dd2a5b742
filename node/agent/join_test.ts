import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { parseNodeIdentity } from "./identity.ts";
import {
  formatJoinToken,
  JoinError,
  parseJoinGrant,
  parseJoinToken,
} from "./join.ts";

const TOKEN = "A".repeat(43);
const FINGERPRINT = "ab".repeat(32);

function refusedWith(code: string, work: () => unknown): void {
  try {
    work();
  } catch (error) {
    assertTrue(error instanceof JoinError, String(error));
    assertEquals((error as JoinError).code, code);
    return;
  }
  throw new Error("accepted");
}

Deno.test("a join token is the cluster token and the CA fingerprint, and parses back", () => {
  const text = formatJoinToken(TOKEN, FINGERPRINT);
  assertEquals(parseJoinToken(` ${text}\n`), {
    token: TOKEN,
    caFingerprint: FINGERPRINT,
  });
});

Deno.test("parseJoinToken() refuses tokens without a well-formed fingerprint", async (t) => {
  for (
    const bad of [
      TOKEN,
      `${TOKEN}.`,
      `${TOKEN}.${FINGERPRINT.toUpperCase()}`,
      `${TOKEN}.${FINGERPRINT}.x`,
      `short.${FINGERPRINT}`,
      "",
    ]
  ) {
    await t.step(
      JSON.stringify(bad.slice(0, 20)),
      () => refusedWith("join.invalid_token", () => parseJoinToken(bad)),
    );
  }
});

Deno.test("parseJoinGrant() takes a sound grant and refuses malformed ones", async (t) => {
  const good = {
    clusterId: "c1",
    primaries: ["10.0.0.1:7946"],
    nodeCertPem:
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  };
  assertEquals(parseJoinGrant(good), good);
  const cases: [string, unknown][] = [
    ["null", null],
    ["no primaries", { ...good, primaries: [] }],
    ["a primary without a port", { ...good, primaries: ["10.0.0.1"] }],
    ["no certificate", { ...good, nodeCertPem: undefined }],
    ["a certificate that is no PEM", { ...good, nodeCertPem: "x" }],
    ["an empty cluster id", { ...good, clusterId: "" }],
  ];
  for (const [name, value] of cases) {
    await t.step(
      name,
      () => refusedWith("join.bad_grant", () => parseJoinGrant(value)),
    );
  }
});

Deno.test("parseNodeIdentity() reads node.json and refuses anything else", () => {
  const identity = { nodeId: "n-abc", millId: "m1", name: "node-1" };
  assertEquals(
    parseNodeIdentity("node.json", JSON.stringify({ format: 1, ...identity })),
    identity,
  );
  for (
    const bad of [
      "{",
      JSON.stringify({ format: 2, ...identity }),
      JSON.stringify({ format: 1, ...identity, name: "bad name" }),
      JSON.stringify({ format: 1, ...identity, nodeId: "" }),
    ]
  ) {
    try {
      parseNodeIdentity("node.json", bad);
      throw new Error(`accepted ${bad}`);
    } catch (error) {
      assertTrue(
        (error as Error).message.includes('"node.json"'),
        String(error),
      );
    }
  }
});
