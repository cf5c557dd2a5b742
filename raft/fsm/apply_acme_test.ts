import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { Command } from "./command.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
import { emptyState } from "./state.ts";
import { stateToDocument } from "./codec.ts";
import { runApplyTable } from "./table_testing.ts";
import { stateFrom } from "./testing.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const DIRECTORY = "https://acme.example/dir";

const lease = (
  holder: string,
  host: string | null,
  atMs: number,
  expiresAtMs = atMs + 60_000,
): Command => ({ type: "AcmeLease", holder, host, expiresAtMs, atMs });

const stored: Command = {
  type: "CertificateStored",
  host: "shop.example.com",
  chainPem: PEM,
  keyCiphertext: "AAAA",
  keyNonce: "BBBB",
  notBeforeMs: 1_000,
  notAfterMs: 90_000_000,
  issuer: "Test CA",
  atMs: 2_000,
};

const failed = (atMs: number): Command => ({
  type: "CertificateOrderFailed",
  host: "shop.example.com",
  kind: "challengeFailed",
  message: "connection refused",
  retryAfterUntilMs: null,
  atMs,
});

Deno.test("apply() handles the ACME commands", async (t) => {
  await runApplyTable(t, emptyState(), [
    {
      name: "settings take an https directory, an e-mail and a CA",
      command: {
        type: "AcmeSettingsSet",
        directoryUrl: DIRECTORY,
        email: "ops@example.com",
        caBundlePem: PEM,
        atMs: 1,
      },
      expect: "ok",
      check: (s) => strictEqual(s.acme.settings?.directoryUrl, DIRECTORY),
    },
    {
      name: "a plain-HTTP directory is refused",
      command: {
        type: "AcmeSettingsSet",
        directoryUrl: "http://acme.example/dir",
        email: null,
        caBundlePem: null,
        atMs: 1,
      },
      expect: "command.invalid",
      message: "https://",
    },
    {
      name: "another directory drops the account, the same keeps it",
      setup: [{
        type: "AcmeAccountSet",
        directoryUrl: DIRECTORY,
        keyCiphertext: "AAAA",
        keyNonce: "BBBB",
        accountUrl: "https://acme.example/acct/1",
        atMs: 1,
      }],
      command: {
        type: "AcmeSettingsSet",
        directoryUrl: "https://other.example/dir",
        email: null,
        caBundlePem: null,
        atMs: 2,
      },
      expect: "ok",
      check: (s) => strictEqual(s.acme.account, null),
    },
    {
      name: "a free lease is taken",
      command: lease("n1", "shop.example.com", 10),
      expect: "ok",
      check: (s) => strictEqual(s.acme.lease?.holder, "n1"),
    },
    {
      name: "another's unexpired lease is refused",
      setup: [lease("n1", "shop.example.com", 10)],
      command: lease("n2", "shop.example.com", 20),
      expect: "acme.lease_held",
      message: "n1 is ordering",
    },
    {
      name: "an expired lease is taken over",
      setup: [lease("n1", "shop.example.com", 10, 100)],
      command: lease("n2", "shop.example.com", 100),
      expect: "ok",
      check: (s) => strictEqual(s.acme.lease?.holder, "n2"),
    },
    {
      name: "only the holder gives a lease back",
      setup: [lease("n1", "shop.example.com", 10)],
      command: lease("n2", null, 20, 0),
      expect: "acme.not_lease_holder",
    },
    {
      name: "the holder gives it back",
      setup: [lease("n1", "shop.example.com", 10)],
      command: lease("n1", null, 20, 0),
      expect: "ok",
      check: (s) => strictEqual(s.acme.lease, null),
    },
    {
      name: "a challenge is published and withdrawn",
      setup: [{
        type: "AcmeChallenge",
        token: "tok_1",
        host: "shop.example.com",
        keyAuthorization: "tok_1.thumb",
        atMs: 5,
      }],
      command: {
        type: "AcmeChallenge",
        token: "tok_1",
        host: "shop.example.com",
        keyAuthorization: null,
        atMs: 6,
      },
      expect: "ok",
      check: (s, before) => {
        strictEqual(before.acme.challenges.length, 1);
        strictEqual(s.acme.challenges.length, 0);
      },
    },
    {
      name: "a key authorization must belong to its token",
      command: {
        type: "AcmeChallenge",
        token: "tok_1",
        host: "shop.example.com",
        keyAuthorization: "other.thumb",
        atMs: 5,
      },
      expect: "command.invalid",
    },
    {
      name: "failures count up, a stored certificate resets them",
      setup: [failed(3), failed(4)],
      command: stored,
      expect: "ok",
      check: (s, before) => {
        strictEqual(before.acme.certificates[0]?.failures, 2);
        strictEqual(
          before.acme.certificates[0]?.lastError?.kind,
          "challengeFailed",
        );
        const [record] = s.acme.certificates;
        strictEqual(record?.failures, 0);
        strictEqual(record?.lastError, null);
        strictEqual(record?.served?.issuer, "Test CA");
      },
    },
    {
      name: "an upper-case or dotted host is not a certificate host",
      command: { ...stored, host: "Shop.Example.com." } as Command,
      expect: "command.invalid",
    },
  ]);
});

Deno.test("the ACME state survives a snapshot; an empty one keeps old bytes", () => {
  const state = stateFrom([
    {
      type: "AcmeSettingsSet",
      directoryUrl: DIRECTORY,
      email: null,
      caBundlePem: null,
      atMs: 1,
    },
    lease("n1", "shop.example.com", 10),
    failed(11),
    stored,
  ]);
  const restored = decodeSnapshot(encodeSnapshot(state));
  deepStrictEqual(restored.acme, state.acme);
  strictEqual("acme" in stateToDocument(emptyState()), false);
});
