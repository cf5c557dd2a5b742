import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import {
  OptionError,
  parseCpuOption,
  parseDurationOption,
  parseHostPort,
  parseList,
  parseNetworkOption,
  parseRoles,
} from "./agent_options.ts";
import { ago, formatBytes, renderAllocs, table } from "./status_tables.ts";

function refuses(work: () => unknown): void {
  try {
    work();
  } catch (error) {
    assertTrue(error instanceof OptionError, String(error));
    return;
  }
  throw new Error("accepted");
}

Deno.test("parseHostPort() takes host:port and [v6]:port, and refuses the rest", async (t) => {
  assertEquals(parseHostPort("127.0.0.1:7946", "x"), {
    hostname: "127.0.0.1",
    port: 7946,
  });
  assertEquals(parseHostPort("[::1]:0", "x"), { hostname: "::1", port: 0 });
  assertEquals(parseHostPort("node-1.example:80", "x"), {
    hostname: "node-1.example",
    port: 80,
  });
  for (
    const bad of ["127.0.0.1", ":80", "host:99999", "host:port", "a b:1", ""]
  ) {
    await t.step(
      `refuses "${bad}"`,
      () => refuses(() => parseHostPort(bad, "x")),
    );
  }
});

Deno.test("parseRoles() takes primary and secondary once each", async (t) => {
  assertEquals(parseRoles("primary,secondary"), ["primary", "secondary"]);
  assertEquals(parseRoles(" secondary , secondary "), ["secondary"]);
  for (const bad of ["", ",", "leader", "primary,worker"]) {
    await t.step(`refuses "${bad}"`, () => refuses(() => parseRoles(bad)));
  }
});

Deno.test("durations, cores and lists parse; bad ones are refused", () => {
  assertEquals(parseDurationOption("15s", "x"), 15_000);
  assertEquals(parseDurationOption("250ms", "x"), 250);
  refuses(() => parseDurationOption("15", "x"));
  refuses(() => parseDurationOption("0s", "x"));
  assertEquals(parseCpuOption("0.5"), 500);
  refuses(() => parseCpuOption("-1"));
  refuses(() => parseCpuOption("two"));
  assertEquals(parseList(" a, ,b "), ["a", "b"]);
  assertEquals(parseList(undefined), []);
});

Deno.test("tables align columns, sizes and ages read as people write them", () => {
  assertEquals(table([["A", "LONG"], ["wide", "x"]]), [
    "A     LONG",
    "wide  x",
  ]);
  assertEquals(formatBytes(512), "512B");
  assertEquals(formatBytes(64 * 1024 * 1024), "64MiB");
  assertEquals(formatBytes(1.5 * 1024 ** 3), "1.5GiB");
  assertEquals(
    ago("2026-01-01T00:00:00Z", Date.parse("2026-01-01T00:01:05Z")),
    "1m ago",
  );
  const lines = renderAllocs([{
    id: "web-1",
    workload: "web",
    kind: "service",
    nodeName: "node-1",
    status: "failed",
    exitCode: 3,
    address: null,
    restarts: 2,
    image: "web:v1",
  }]);
  assertTrue(lines[1]!.includes("failed (exit 3)"), lines[1]);
});

Deno.test("parseNetworkOption: bridge by default and when asked, host on request, anything else refused", () => {
  assertEquals(parseNetworkOption(undefined), {
    network: { mode: "bridge" },
  });
  assertEquals(parseNetworkOption("bridge", "n1"), {
    network: { mode: "bridge", netnsPrefix: "n1" },
  });
  assertEquals(parseNetworkOption("host"), {});
  refuses(() => parseNetworkOption("overlay"));
  refuses(() => parseNetworkOption("bridge", "Bad-Prefix"));
});
