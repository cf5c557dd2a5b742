import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import dgram from "node:dgram";
import { DnsServer, type DnsServerOptions } from "./server.ts";
import { buildZone, type ZoneInput } from "./zone.ts";
import { type DecodedMessage, decodeMessage, encodeQuery } from "./_packet.ts";

const LOCAL = "127.0.0.1";

function zoneInput(endpoints: number, base = 2): ZoneInput {
  const eps = Array.from({ length: endpoints }, (_, i) => ({
    allocId: `web-${i}`,
    address: `10.210.${(base + i) >> 8}.${(base + i) & 255}`,
    port: 8080,
  }));
  return {
    services: [{ name: "web", endpoints: eps }, {
      name: "idle",
      endpoints: [],
    }],
    allocs: eps.map((e) => ({ id: e.allocId, address: e.address })),
    nodes: [{ name: "node-a", address: "192.168.7.1" }],
  };
}

async function withServer(
  options: Partial<DnsServerOptions>,
  zone: ZoneInput | null,
  body: (server: DnsServer) => Promise<void>,
): Promise<void> {
  const server = new DnsServer({
    listen: { hostname: LOCAL, port: 0 },
    upstreams: [],
    ...options,
  });
  await server.start();
  try {
    if (zone !== null) server.setZone(buildZone(zone));
    await body(server);
  } finally {
    await server.stop();
  }
}

interface DigResult {
  status: string;
  flags: string[];
  answers: string[];
  additionals: string[];
  authority: string[];
}

/** The real dig against the server; its status, flags and sections. */
async function dig(port: number, ...args: string[]): Promise<DigResult> {
  const output = await new Deno.Command("dig", {
    args: [`@${LOCAL}`, "-p", String(port), "+tries=1", "+time=3", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const status = /status: (\w+)/.exec(text)?.[1] ?? `no answer: ${text}`;
  const flags = (/;; flags: ([a-z ]*);/.exec(text)?.[1] ?? "").trim().split(
    " ",
  );
  const section = (name: string) => {
    const start = text.indexOf(`;; ${name} SECTION:\n`);
    if (start < 0) return [];
    const body = text.slice(start).split("\n").slice(1);
    const end = body.indexOf("");
    return body.slice(0, end < 0 ? body.length : end).map((l) =>
      l.replace(/\s+/g, " ")
    );
  };
  return {
    status,
    flags,
    answers: section("ANSWER"),
    additionals: section("ADDITIONAL").filter((l) => !l.includes("OPT")),
    authority: section("AUTHORITY"),
  };
}

Deno.test("dig over UDP and TCP: A, SRV with additionals, NXDOMAIN, NODATA", async () => {
  await withServer({}, zoneInput(2), async (server) => {
    for (const transport of ["+notcp", "+tcp"]) {
      const a = await dig(server.port, transport, "WEB.mill", "A");
      strictEqual(a.status, "NOERROR");
      ok(a.flags.includes("aa"), a.flags.join(" "));
      deepStrictEqual(a.answers.sort(), [
        "WEB.mill. 5 IN A 10.210.0.2",
        "WEB.mill. 5 IN A 10.210.0.3",
      ]);
      const srv = await dig(server.port, transport, "_web._tcp.mill", "SRV");
      deepStrictEqual(srv.answers.sort(), [
        "_web._tcp.mill. 5 IN SRV 0 1 8080 web-0.alloc.mill.",
        "_web._tcp.mill. 5 IN SRV 0 1 8080 web-1.alloc.mill.",
      ]);
      deepStrictEqual(srv.additionals.sort(), [
        "web-0.alloc.mill. 5 IN A 10.210.0.2",
        "web-1.alloc.mill. 5 IN A 10.210.0.3",
      ]);
      const nx = await dig(server.port, transport, "nope.mill", "A");
      strictEqual(nx.status, "NXDOMAIN");
      ok(nx.authority[0]?.includes("SOA"), nx.authority.join());
      const nodata = await dig(server.port, transport, "web.mill", "AAAA");
      strictEqual(nodata.status, "NOERROR");
      deepStrictEqual(nodata.answers, []);
      ok(nodata.authority[0]?.includes("SOA"));
      const idle = await dig(server.port, transport, "idle.mill", "A");
      strictEqual(idle.status, "NOERROR");
      const node = await dig(server.port, transport, "node-a.node.mill.");
      deepStrictEqual(node.answers, ["node-a.node.mill. 5 IN A 192.168.7.1"]);
    }
    const stats = server.stats();
    strictEqual(stats.queriesByType["A"], 8);
    strictEqual(stats.responsesByRcode["NXDOMAIN"], 2);
    ok(stats.tcpAccepted >= 6);
  });
});

Deno.test("60 endpoints over UDP set TC with the answers that fit; TCP gets all", async () => {
  await withServer({}, zoneInput(60), async (server) => {
    const udp = await dig(server.port, "+ignore", "+noedns", "web.mill");
    ok(udp.flags.includes("tc"), udp.flags.join(" "));
    ok(
      udp.answers.length > 0 && udp.answers.length < 60,
      String(udp.answers.length),
    );
    const tcp = await dig(server.port, "+tcp", "web.mill");
    ok(!tcp.flags.includes("tc"));
    strictEqual(tcp.answers.length, 60);
    // Without EDNS0, dig sees TC and retries over TCP by itself.
    strictEqual(
      (await dig(server.port, "+noedns", "web.mill")).answers.length,
      60,
    );
    // An EDNS0 buffer (up to 1232 bytes) takes them all: names are compressed.
    const edns = await dig(server.port, "+ignore", "+bufsize=4096", "web.mill");
    ok(!edns.flags.includes("tc"));
    strictEqual(edns.answers.length, 60);
    strictEqual(server.stats().truncated, 2);
  });
});

Deno.test("setZone swaps the zone: the next query sees the new records", async () => {
  await withServer({}, null, async (server) => {
    // Before any zone: SERVFAIL (try later), not an NXDOMAIN to be cached.
    strictEqual((await dig(server.port, "web.mill")).status, "SERVFAIL");
    server.setZone(buildZone(zoneInput(1)));
    deepStrictEqual(
      (await dig(server.port, "+short", "web.mill")).status,
      "no answer: 10.210.0.2\n",
    );
    server.setZone(buildZone(zoneInput(1, 40)));
    const after = await dig(server.port, "web.mill");
    deepStrictEqual(after.answers, ["web.mill. 5 IN A 10.210.0.40"]);
    server.setZone(buildZone({ services: [], allocs: [], nodes: [] }));
    strictEqual((await dig(server.port, "web.mill")).status, "NXDOMAIN");
  });
});

Deno.test("names outside the zone are forwarded; SERVFAIL once the upstream is down", async () => {
  const upstream = new DnsServer({
    listen: { hostname: LOCAL, port: 0 },
    upstreams: [],
  });
  await upstream.start();
  let upstreamRunning = true;
  try {
    upstream.setZone(buildZone(zoneInput(1, 77), { domain: "up.test" }));
    await withServer(
      { upstreams: [`${LOCAL}:${upstream.port}`], forwardTimeoutMs: 500 },
      zoneInput(1),
      async (server) => {
        const forwarded = await dig(server.port, "web.up.test");
        strictEqual(forwarded.status, "NOERROR");
        deepStrictEqual(forwarded.answers, ["web.up.test. 5 IN A 10.210.0.77"]);
        ok(
          forwarded.flags.includes("ra"),
          "recursion available with an upstream",
        );
        strictEqual(
          (await dig(server.port, "nope.up.test")).status,
          "NXDOMAIN",
        );
        // Over TCP from the client too.
        strictEqual(
          (await dig(server.port, "+tcp", "web.up.test")).answers.length,
          1,
        );
        // Our own names are never forwarded.
        deepStrictEqual((await dig(server.port, "web.mill")).answers, [
          "web.mill. 5 IN A 10.210.0.2",
        ]);
        strictEqual(upstream.stats().forwarded, 0);
        strictEqual(server.stats().forwarded, 3);
        await upstream.stop();
        upstreamRunning = false;
        strictEqual((await dig(server.port, "web.up.test")).status, "SERVFAIL");
        strictEqual(server.stats().forwardTimeouts, 1);
      },
    );
  } finally {
    if (upstreamRunning) await upstream.stop();
  }
});

Deno.test("a truncated upstream answer is fetched whole over TCP for a TCP client", async () => {
  const upstream = new DnsServer({
    listen: { hostname: LOCAL, port: 0 },
    upstreams: [],
  });
  await upstream.start();
  try {
    upstream.setZone(buildZone(zoneInput(60), { domain: "up.test" }));
    await withServer(
      { upstreams: [`${LOCAL}:${upstream.port}`], forwardTimeoutMs: 1000 },
      zoneInput(1),
      async (server) => {
        // Without EDNS0 the upstream's UDP answer is cut at 512 bytes.
        const udp = await dig(server.port, "+noedns", "+ignore", "web.up.test");
        ok(udp.flags.includes("tc"));
        ok(udp.answers.length < 60);
        const tcp = await dig(server.port, "+noedns", "+tcp", "web.up.test");
        ok(!tcp.flags.includes("tc"), tcp.flags.join(" "));
        strictEqual(tcp.answers.length, 60);
        strictEqual(upstream.stats().tcpAccepted, 1);
      },
    );
  } finally {
    await upstream.stop();
  }
});

Deno.test("no upstream: SERVFAIL for names outside the zone", async () => {
  await withServer({ upstreams: [] }, zoneInput(1), async (server) => {
    strictEqual((await dig(server.port, "example.com")).status, "SERVFAIL");
  });
});

/** A raw UDP client: sends bytes, waits up to `waitMs` for each reply. */
async function rawUdp(
  port: number,
  packets: readonly Uint8Array[],
  options: { waitMs?: number; bindAddress?: string } = {},
): Promise<Uint8Array[]> {
  const socket = dgram.createSocket("udp4");
  const replies: Uint8Array[] = [];
  socket.on("message", (msg: Uint8Array) => replies.push(new Uint8Array(msg)));
  await new Promise<void>((resolve) =>
    socket.bind(0, options.bindAddress ?? LOCAL, resolve)
  );
  try {
    for (const packet of packets) socket.send(packet, port, LOCAL);
    const deadline = Date.now() + (options.waitMs ?? 1000);
    while (replies.length < packets.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return replies;
  } finally {
    socket.close();
  }
}

Deno.test("malformed packets: FORMERR when the header reads, NOTIMP, dropped otherwise", async () => {
  await withServer({}, zoneInput(1), async (server) => {
    const good = encodeQuery(0x1234, "web.mill", "A");
    const twoQuestions = good.slice();
    twoQuestions[5] = 2;
    const cutQuestion = good.slice(0, good.length - 3);
    const badLabel = good.slice();
    badLabel[12] = 0x50; // a label length past the packet, and > 63
    const notify = good.slice();
    notify[2] = 4 << 3; // opcode NOTIFY
    const replies = await rawUdp(server.port, [
      twoQuestions,
      cutQuestion,
      badLabel,
      notify,
    ]);
    strictEqual(replies.length, 4);
    const rcodes = replies.map((r) => decodeMessage(r)).map((
      m: DecodedMessage,
    ) => [m.id, m.rcode]);
    deepStrictEqual(rcodes.sort(), [
      [0x1234, "FORMERR"],
      [0x1234, "FORMERR"],
      [0x1234, "FORMERR"],
      [0x1234, "NOTIMP"],
    ]);
    // Unreadable header, and a response (QR set): no reply at all.
    const response = good.slice();
    response[2]! |= 0x80;
    deepStrictEqual(
      await rawUdp(server.port, [good.slice(0, 5), response], { waitMs: 300 }),
      [],
    );
    strictEqual(server.stats().dropped, 2);
    // And the server still answers.
    const [answer] = await rawUdp(server.port, [good]);
    strictEqual(decodeMessage(answer!).answers.length, 1);
  });
});

Deno.test("a flood from one source is rate limited; another source is still answered", async () => {
  const limit = { perSecond: 20, burst: 10 };
  await withServer({ rateLimit: limit }, zoneInput(1), async (server) => {
    const flood = Array.from(
      { length: 300 },
      (_, i) => encodeQuery(i, "web.mill", "A"),
    );
    const started = performance.now();
    const replies = await rawUdp(server.port, flood, { waitMs: 500 });
    const elapsedS = (performance.now() - started) / 1000;
    // The bound follows from the bucket, whatever the elapsed time was.
    ok(
      replies.length <= limit.burst + Math.ceil(limit.perSecond * elapsedS) + 1,
      `${replies.length} answers in ${elapsedS} s`,
    );
    ok(replies.length >= limit.burst, `${replies.length} answers`);
    // The kernel may drop some of a burst before the server reads it: the
    // limiter refused what it read and did not answer.
    const limited = server.stats().rateLimited;
    ok(limited > 0, "the limiter refused some");
    ok(limited + replies.length <= 300, `${limited} + ${replies.length}`);
    const other = await rawUdp(server.port, [encodeQuery(7, "web.mill", "A")], {
      bindAddress: "127.0.0.2",
    });
    strictEqual(other.length, 1);
  });
});

function framed(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + message.length);
  out[0] = message.length >> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}

/** Reads whole framed messages until `count` or the connection closes. */
async function readFramed(
  conn: Deno.Conn,
  count: number,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(65536);
  while (out.length < count) {
    const n = await conn.read(chunk).catch(() => null);
    if (n === null) break;
    const grown = new Uint8Array(buf.length + n);
    grown.set(buf);
    grown.set(chunk.subarray(0, n), buf.length);
    buf = grown;
    while (buf.length >= 2 && buf.length >= 2 + ((buf[0]! << 8) | buf[1]!)) {
      const length = (buf[0]! << 8) | buf[1]!;
      out.push(buf.slice(2, 2 + length));
      buf = buf.slice(2 + length);
    }
  }
  return out;
}

Deno.test("TCP: several queries per connection, bounded connections, idle timeout, size limit", async () => {
  await withServer(
    { maxTcpConnections: 2, tcpIdleTimeoutMs: 300 },
    zoneInput(1),
    async (server) => {
      const first = await Deno.connect({ hostname: LOCAL, port: server.port });
      const second = await Deno.connect({ hostname: LOCAL, port: server.port });
      try {
        // Two queries in one write: two answers, in order.
        const both = new Uint8Array([
          ...framed(encodeQuery(1, "web.mill", "A")),
          ...framed(encodeQuery(2, "nope.mill", "A")),
        ]);
        await first.write(both);
        const answers = (await readFramed(first, 2)).map(decodeMessage);
        deepStrictEqual(answers.map((m) => [m.id, m.rcode]), [[1, "NOERROR"], [
          2,
          "NXDOMAIN",
        ]]);
        // A third connection is over the bound: closed at once.
        const third = await Deno.connect({
          hostname: LOCAL,
          port: server.port,
        });
        await third.write(framed(encodeQuery(3, "web.mill", "A"))).catch(() =>
          0
        );
        deepStrictEqual(await readFramed(third, 1), []);
        third.close();
        strictEqual(server.stats().tcpRejected, 1);
        // Idle connections are closed by the server.
        deepStrictEqual(await readFramed(second, 1), []);
        deepStrictEqual(await readFramed(first, 1), []);
        ok(server.stats().tcpIdleClosed >= 2);
      } finally {
        first.close();
        second.close();
      }
      // A message over 4096 bytes closes its connection unanswered.
      const big = await Deno.connect({ hostname: LOCAL, port: server.port });
      try {
        await big.write(new Uint8Array([0x13, 0x88, 0, 1, 2, 3]));
        deepStrictEqual(await readFramed(big, 1), []);
        strictEqual(server.stats().tcpOversized, 1);
      } finally {
        big.close();
      }
    },
  );
});

for (const udp of ["node:dgram", "ffi"] as const) {
  Deno.test(`random datagrams and TCP streams leave the server answering (udp: ${udp})`, async () => {
    await withServer({ rateLimit: null, udp }, zoneInput(1), async (server) => {
      let seed = 12345;
      const random = () =>
        (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
      const bytes = (n: number) =>
        Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
      const valid = encodeQuery(9, "web.mill", "A");
      const packets = Array.from({ length: 2000 }, (_, i) => {
        const p = i % 2 === 0
          ? bytes(Math.floor(random() * 600))
          : valid.slice();
        if (i % 2 === 1) {
          p[Math.floor(random() * p.length)] = Math.floor(random() * 256);
        }
        return p;
      });
      packets.push(bytes(5000), bytes(65000)); // past the FFI socket's 4096-byte slots
      await rawUdp(server.port, packets, { waitMs: 200 });
      for (let i = 0; i < 20; i++) {
        const conn = await Deno.connect({ hostname: LOCAL, port: server.port });
        try {
          await conn.write(bytes(Math.floor(random() * 300))).catch(() => 0);
          await conn.write(framed(valid)).catch(() => 0);
        } finally {
          conn.close();
        }
      }
      const [answer] = await rawUdp(server.port, [valid]);
      strictEqual(decodeMessage(answer!).answers.length, 1);
      strictEqual(
        (await dig(server.port, "+tcp", "web.mill")).answers.length,
        1,
      );
    });
  });
}

Deno.test("udp: ffi (recvmmsg/sendmmsg) answers, truncates, forwards and rejects alike", async () => {
  const upstream = new DnsServer({
    listen: { hostname: LOCAL, port: 0 },
    upstreams: [],
    udp: "ffi",
  });
  await upstream.start();
  try {
    strictEqual(upstream.udpKind, "ffi");
    upstream.setZone(buildZone(zoneInput(1, 77), { domain: "up.test" }));
    await withServer(
      {
        udp: "ffi",
        upstreams: [`${LOCAL}:${upstream.port}`],
        rateLimit: { perSecond: 20, burst: 10 },
      },
      zoneInput(60),
      async (server) => {
        strictEqual(server.udpKind, "ffi");
        const udp = await dig(server.port, "+ignore", "+noedns", "web.mill");
        ok(udp.flags.includes("tc"));
        ok(udp.answers.length > 0 && udp.answers.length < 60);
        strictEqual(
          (await dig(server.port, "+bufsize=1232", "web.mill")).answers.length,
          60,
        );
        // Forwarded: the answer comes after its batch went out.
        deepStrictEqual((await dig(server.port, "web.up.test")).answers, [
          "web.up.test. 5 IN A 10.210.0.77",
        ]);
        const good = encodeQuery(0x4321, "web.mill", "A");
        const twoQuestions = good.slice();
        twoQuestions[5] = 2;
        const [formerr] = await rawUdp(server.port, [twoQuestions]);
        strictEqual(decodeMessage(formerr!).rcode, "FORMERR");
        // The rest of the burst, then the flood is dropped.
        const flood = Array.from(
          { length: 200 },
          (_, i) => encodeQuery(i, "node-a.node.mill", "A"),
        );
        const replies = await rawUdp(server.port, flood, { waitMs: 300 });
        ok(replies.length < 30, `${replies.length} answers to a flood`);
        ok(server.stats().rateLimited > 150);
      },
    );
  } finally {
    await upstream.stop();
  }
});
