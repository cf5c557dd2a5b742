import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import {
  deleteTableScript,
  meshGuardScript,
  parsePublicationRules,
  tableScript,
  type TableState,
} from "./nft_table.ts";

const STATE: TableState = {
  table: "mill",
  bridge: "mill0",
  meshInterface: "mill-wg",
  subnet: "10.210.3.0/24",
  gateway: "10.210.3.1",
  agentPorts: [7946, 7443, 7443],
  dnsPort: 53,
  publications: [
    {
      allocId: "b",
      protocol: "udp",
      hostPort: 20005,
      address: "10.210.3.3",
      containerPort: 5353,
    },
    {
      allocId: "a",
      protocol: "tcp",
      hostPort: 20001,
      address: "10.210.3.2",
      containerPort: 80,
    },
  ],
};

async function nftCheck(script: string): Promise<{ ok: boolean; err: string }> {
  // Checked by the real nft (-c: parse and validate, commit nothing) in a
  // namespace of its own, so nothing of the machine's is touched.
  const name = `mill-nftc-${crypto.randomUUID().slice(0, 8)}`;
  const ip = (...args: string[]) =>
    new Deno.Command("ip", { args, stdout: "null", stderr: "null" }).output();
  await ip("netns", "add", name);
  try {
    const child = new Deno.Command("nsenter", {
      args: [`--net=/var/run/netns/${name}`, "nft", "-c", "-f", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(script));
    await writer.close();
    const out = await child.output();
    return { ok: out.success, err: new TextDecoder().decode(out.stderr) };
  } finally {
    await ip("netns", "delete", name);
  }
}

Deno.test("tableScript() replaces the whole table in one file: NAT, publications, agent ports", async () => {
  const script = tableScript(STATE);
  const lines = script.split("\n").map((l) => l.trim());
  deepStrictEqual(lines.slice(0, 3), [
    "table inet mill {}",
    "delete table inet mill",
    "table inet mill {",
  ]);
  const tcp = "fib daddr type local tcp dport 20001 dnat ip to 10.210.3.2:80";
  const udp = "fib daddr type local udp dport 20005 dnat ip to 10.210.3.3:5353";
  // Each publication in prerouting and output, sorted (tcp first).
  strictEqual(lines.filter((l) => l === tcp).length, 2);
  strictEqual(lines.filter((l) => l === udp).length, 2);
  strictEqual(lines.indexOf(tcp) < lines.indexOf(udp), true);
  strictEqual(
    lines.includes(
      'ip saddr 10.210.3.0/24 oifname != { "mill0", "mill-wg" } masquerade',
    ),
    true,
  );
  strictEqual(
    lines.includes(
      'iifname "mill0" tcp dport { 7443, 7946 } reject with tcp reset',
    ),
    true,
  );
  const dns = lines.findIndex((l) => l.includes("th dport 53 accept"));
  const reject = lines.findIndex((l) => l.includes("reject"));
  strictEqual(dns > 0 && dns < reject, true, "DNS is accepted before");
  const check = await nftCheck(script);
  strictEqual(check.ok, true, check.err);
});

Deno.test("tableScript() without agent ports or publications is valid nft", async () => {
  const script = tableScript({ ...STATE, agentPorts: [], publications: [] });
  strictEqual(script.includes("dnat ip to"), false);
  strictEqual(script.includes("reject"), false);
  const check = await nftCheck(script);
  strictEqual(check.ok, true, check.err);
  strictEqual((await nftCheck(deleteTableScript("mill"))).ok, true);
});

Deno.test("tableScript() refuses what could inject nft syntax", () => {
  throws(() => tableScript({ ...STATE, table: "mill; flush ruleset" }));
  throws(() => tableScript({ ...STATE, bridge: 'x" accept' }));
  throws(() => tableScript({ ...STATE, agentPorts: [0] }), /not a port/);
  throws(() => tableScript({ ...STATE, agentPorts: [1.5] }), /not a port/);
  throws(
    () =>
      tableScript({
        ...STATE,
        publications: [{ ...STATE.publications[0]!, address: "1.2.3.4 drop" }],
      }),
    /not an IPv4/,
  );
  throws(
    () =>
      tableScript({
        ...STATE,
        publications: [{ ...STATE.publications[0]!, hostPort: 70000 }],
      }),
    /not a port/,
  );
});

Deno.test("parsePublicationRules() reads back what nft lists", () => {
  const listing = `table inet mill {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local tcp dport 20001 dnat ip to 10.210.3.2:80
		fib daddr type local udp dport 20005 dnat ip to 10.210.3.3:5353
	}
}`;
  deepStrictEqual(parsePublicationRules(listing), [
    {
      protocol: "tcp",
      hostPort: 20001,
      address: "10.210.3.2",
      containerPort: 80,
    },
    {
      protocol: "udp",
      hostPort: 20005,
      address: "10.210.3.3",
      containerPort: 5353,
    },
  ]);
  deepStrictEqual(parsePublicationRules(""), []);
});

Deno.test("meshGuardScript() holds the mesh rule alone, valid nft; bad names refused", async () => {
  const script = meshGuardScript({
    table: "mill",
    meshInterface: "mill-wg",
    agentPorts: [7946, 7443],
  });
  strictEqual(
    script.includes(
      'iifname "mill-wg" ip saddr & 0.0.0.255 != 0.0.0.1 tcp dport { 7443, 7946 } reject',
    ),
    true,
    script,
  );
  strictEqual(script.includes("masquerade"), false);
  const check = await nftCheck(script);
  strictEqual(check.ok, true, check.err);
  throws(() =>
    meshGuardScript({ table: "x;y", meshInterface: "w", agentPorts: [1] })
  );
  throws(() =>
    meshGuardScript({ table: "mill", meshInterface: "w", agentPorts: [0] })
  );
});
