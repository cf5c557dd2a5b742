import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { config, service, stateFrom } from "../../raft/fsm/testing.ts";
import type { Command } from "../../raft/mod.ts";
import { acmeSettingsHandler, certsView } from "./certs_routes.ts";
import type { CommitResult } from "../deploy/mod.ts";

const routed = config([
  service("web", { routes: [{ host: "shop.example.com", path: "/" }] }),
]);

Deno.test("certsView(): every routed host, none until ordered, the last error and the next order", () => {
  const state = stateFrom([
    { type: "Deploy", deployId: "d1", config: routed, atMs: 1 },
    {
      type: "CertificateOrderFailed",
      host: "shop.example.com",
      kind: "challengeFailed",
      message: "connection refused",
      retryAfterUntilMs: null,
      atMs: 60_000,
    },
    {
      type: "CertificateOrderFailed",
      host: "old.example.com",
      kind: "network",
      message: "down",
      retryAfterUntilMs: null,
      atMs: 60_000,
    },
  ]);
  const view = certsView(state, 90_000);
  strictEqual(
    view.acme.directoryUrl,
    "https://acme-v02.api.letsencrypt.org/directory",
  );
  deepStrictEqual(view.certificates.map((c) => [c.host, c.state]), [
    ["old.example.com", "none"],
    ["shop.example.com", "none"],
  ]);
  const shop = view.certificates[1]!;
  strictEqual(shop.failures, 1);
  strictEqual(shop.lastError?.message, "connection refused");
  // One failure: a minute's backoff from the attempt.
  strictEqual(shop.nextOrderAt, new Date(120_000).toISOString());
  // A host no route names any more is not ordered again.
  strictEqual(view.certificates[0]!.nextOrderAt, null);
});

Deno.test("PUT /v1/acme: names for Let's Encrypt's directories; bad bodies are 400", async () => {
  const committed: Command[] = [];
  const handler = acmeSettingsHandler({
    commit: (command) => {
      committed.push(command);
      return Promise.resolve(
        { ok: true, state: stateFrom([]) } as CommitResult,
      );
    },
    nowMs: () => 5,
  });
  const put = async (body: unknown) =>
    await handler(
      new Request("https://x/v1/acme", {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
      { params: {}, caller: null } as never,
    );
  const staged = await put({ directoryUrl: "staging" });
  strictEqual(staged.status, 200);
  deepStrictEqual(committed[0], {
    type: "AcmeSettingsSet",
    directoryUrl: "https://acme-staging-v02.api.letsencrypt.org/directory",
    email: null,
    caBundlePem: null,
    atMs: 5,
  });
  for (
    const bad of [{}, { directoryUrl: 3 }, { directoryUrl: "x", extra: 1 }]
  ) {
    const error = await put(bad).catch((e: { status: number }) => e);
    strictEqual(error.status, 400, JSON.stringify(bad));
  }
});
