import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  AcmeHttpError,
  failureFromError,
  parseProblem,
  parseRetryAfter,
} from "./failure.ts";
import { challengeResponse, challengeTokenOfPath } from "./challenge.ts";

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

Deno.test("Retry-After: seconds, an HTTP date, or nothing usable", () => {
  strictEqual(parseRetryAfter("120", NOW), 120_000);
  strictEqual(parseRetryAfter(" 0 ", NOW), 0);
  strictEqual(parseRetryAfter("Mon, 01 Jun 2026 13:00:00 GMT", NOW), 3_600_000);
  strictEqual(parseRetryAfter("Mon, 01 Jun 2026 11:00:00 GMT", NOW), 0);
  strictEqual(parseRetryAfter("soon", NOW), null);
  strictEqual(parseRetryAfter("-5", NOW), null);
  strictEqual(parseRetryAfter("1.5", NOW), null);
  strictEqual(parseRetryAfter(null, NOW), null);
  strictEqual(parseRetryAfter(undefined, NOW), null);
});

Deno.test("a problem document is read loosely; anything else is none", () => {
  deepStrictEqual(
    parseProblem({
      type: "urn:ietf:params:acme:error:rejectedIdentifier",
      detail: "policy forbids",
      subproblems: [{ type: "x", detail: "y" }, 3, { detail: 5 }],
    }),
    {
      type: "urn:ietf:params:acme:error:rejectedIdentifier",
      detail: "policy forbids",
      subproblems: [{ type: "x", detail: "y" }, { type: "", detail: "" }],
    },
  );
  strictEqual(parseProblem(null), null);
  strictEqual(parseProblem("<html>"), null);
  strictEqual(parseProblem({ status: 400 }), null);
});

Deno.test("a 429 is a rate limit whatever its problem type says", () => {
  const failure = failureFromError(
    new AcmeHttpError("https://ca/new-order", 429, null, null),
  );
  deepStrictEqual(
    [failure.kind, failure.kind === "rateLimited" ? failure.retryAfterMs : 0],
    ["rateLimited", null],
  );
  strictEqual(failureFromError(new Error("boom")).kind, "other");
  strictEqual(
    failureFromError(new DOMException("stop", "AbortError")).kind,
    "aborted",
  );
});

Deno.test("HTTP-01 paths: only well-formed tokens, 404 for unknown ones", () => {
  const token = "yKifpDhdpM9QpAY2-tcTPunuHa2cmgo4iag4Csr-X_0";
  const path = `/.well-known/acme-challenge/${token}`;
  strictEqual(challengeTokenOfPath(path), token);
  strictEqual(challengeTokenOfPath("/.well-known/acme-challenge/../etc"), null);
  strictEqual(challengeTokenOfPath("/.well-known/acme-challenge/short"), null);
  strictEqual(challengeTokenOfPath(`/other/${token}`), null);
  const tokens = new Map([[token, `${token}.thumbprint`]]);
  deepStrictEqual(challengeResponse(path, (t) => tokens.get(t)), {
    status: 200,
    body: `${token}.thumbprint`,
  });
  strictEqual(
    challengeResponse(`${path}x`, (t) => tokens.get(t)).status,
    404,
  );
});
