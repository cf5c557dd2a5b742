import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { config, service, stateFrom } from "../../raft/fsm/testing.ts";
import { certificateHosts, certificateSecretName } from "./hosts.ts";
import { certificatesVersion } from "./certificate_keys.ts";

Deno.test("certificateHosts(): routed DNS names once each, lowercase; no addresses or bare names", () => {
  const state = stateFrom([{
    type: "Deploy",
    deployId: "d1",
    config: config([
      service("web", {
        routes: [
          { host: "Shop.Example.com.", path: "/" },
          { host: "shop.example.com", path: "/api" },
          { host: "localhost", path: "/" },
          { host: "10.0.0.1", path: "/" },
        ],
      }),
      service("admin", { routes: [{ host: "admin.example.com", path: "/" }] }),
    ]),
    atMs: 1,
  }]);
  deepStrictEqual(certificateHosts(state), [
    "admin.example.com",
    "shop.example.com",
  ]);
});

Deno.test("certificateSecretName(): a valid secret name per host, long hosts included", () => {
  const long = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.com`;
  const name = certificateSecretName(long);
  strictEqual(/^tls\.[0-9a-f]{40}$/.test(name), true, name);
  strictEqual(certificateSecretName("a.com") === name, false);
});

Deno.test("certificatesVersion(): changes with a stored certificate only", () => {
  const failed = stateFrom([{
    type: "CertificateOrderFailed",
    host: "shop.example.com",
    kind: "network",
    message: "down",
    retryAfterUntilMs: null,
    atMs: 5,
  }]);
  strictEqual(certificatesVersion(failed), "");
  const stored = stateFrom([{
    type: "CertificateStored",
    host: "shop.example.com",
    chainPem: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
    keyCiphertext: "AAAA",
    keyNonce: "BBBB",
    notBeforeMs: 1,
    notAfterMs: 100,
    issuer: "CA",
    atMs: 7,
  }], failed);
  strictEqual(certificatesVersion(stored), "shop.example.com@7");
});
