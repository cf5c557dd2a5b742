import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { OptionError } from "./agent_options.ts";
import { resolveApiEndpoint } from "./api_listen.ts";
import { joinFailure } from "./join_errors.ts";
import { JoinError } from "../../node/agent/join.ts";
import { EXIT } from "../exit_codes.ts";

function refused(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    assertTrue(error instanceof OptionError, String(error));
    return (error as Error).message;
  }
  throw new Error("accepted");
}

Deno.test("the API listens where the CLI context points", () => {
  assertEquals(resolveApiEndpoint([], undefined, undefined), {
    listen: { hostname: "127.0.0.1", port: 7443 },
    port: 7443,
    addresses: [],
    url: "https://127.0.0.1:7443",
  });
  const ip = resolveApiEndpoint(
    ["10.77.0.1", "api.example"],
    "8443",
    undefined,
  );
  assertEquals(ip.listen, { hostname: "10.77.0.1", port: 8443 });
  assertEquals(ip.url, "https://10.77.0.1:8443");
  const dns = resolveApiEndpoint(["api.example"], undefined, undefined);
  assertEquals(dns.listen, { hostname: "0.0.0.0", port: 7443 });
  assertEquals(dns.url, "https://api.example:7443");
  const v6 = resolveApiEndpoint(["fd00::1"], undefined, undefined);
  assertEquals(v6.url, "https://[fd00::1]:7443");
});

Deno.test("--api-listen sets the port and must serve the context's address", () => {
  const wildcard = resolveApiEndpoint(["10.0.0.1"], undefined, "0.0.0.0:9443");
  assertEquals(wildcard.listen, { hostname: "0.0.0.0", port: 9443 });
  assertEquals(wildcard.url, "https://10.0.0.1:9443");
  const alone = resolveApiEndpoint([], undefined, "10.0.0.2:7443");
  assertEquals(alone.addresses, ["10.0.0.2"]);
  assertEquals(alone.url, "https://10.0.0.2:7443");
  const same = resolveApiEndpoint(["10.0.0.1"], "7443", "10.0.0.1:7443");
  assertEquals(same.listen, { hostname: "10.0.0.1", port: 7443 });
  const message = refused(() =>
    resolveApiEndpoint(["10.77.0.1"], undefined, "127.0.0.1:7443")
  );
  assertTrue(message.includes("https://10.77.0.1:7443"), message);
  refused(() => resolveApiEndpoint([], "7443", "127.0.0.1:8443"));
  refused(() => resolveApiEndpoint([], undefined, "127.0.0.1:0"));
  refused(() => resolveApiEndpoint([], "http", undefined));
  refused(() => resolveApiEndpoint([], undefined, "nowhere"));
});

Deno.test("mill join maps every failure to a code and an exit status", () => {
  assertEquals(
    joinFailure(new JoinError("join.invalid_token", "bad")).exit,
    EXIT.usage,
  );
  assertEquals(
    joinFailure(new JoinError("join.unreachable", "down")).exit,
    EXIT.unavailable,
  );
  assertEquals(
    joinFailure(new JoinError("join.node_exists", "taken")).exit,
    EXIT.failure,
  );
  assertEquals(joinFailure(new OptionError("x")).code, "cli.usage");
  const typeError = joinFailure(
    new TypeError("error sending request: connect"),
  );
  assertEquals([typeError.code, typeError.exit], [
    "join.unreachable",
    EXIT.unavailable,
  ]);
  assertEquals(joinFailure(new Error("boom")), {
    code: "join.failed",
    message: "boom",
    exit: EXIT.failure,
  });
  assertEquals(joinFailure("text").code, "join.failed");
});
