/**
 * mill's DNS server as a process of its own for bench/dns (so that it can
 * be pinned to a core): serves the bench's records on 127.0.0.1, prints
 * `port N` once listening, runs until stdin closes. With `echo`, the same
 * UDP socket code answers every datagram with itself, QR set: the floor
 * the runtime's datagram I/O allows, with no DNS work at all.
 *
 * `shipped` picks the socket as the agent does ("auto": FFI batches where
 * the permissions allow, bench/dns runs it under mill's own), `dgram` is
 * node:dgram, the fallback; `echo` uses node:dgram too. The first line,
 * `port N udp KIND`, says which socket answers.
 *
 * Run: scripts/deno run -A bench/_dns_server.ts SERVICES ENDPOINTS shipped|dgram|echo
 */

import { DnsServer } from "../net/dns/server.ts";
import { buildZone } from "../net/dns/zone.ts";
import { bindUdp } from "../net/dns/_udp.ts";
import { benchZoneInput } from "./_dns_records.ts";

const services = Number(Deno.args[0] ?? 50);
const endpoints = Number(Deno.args[1] ?? 3);

async function untilStdinCloses(): Promise<void> {
  for await (const _ of Deno.stdin.readable) { /* nothing to read */ }
}

const mode = Deno.args[2] ?? "shipped";

if (mode === "echo") {
  const socket = await bindUdp(
    "127.0.0.1",
    0,
    (message, _source, reply) => {
      const out = message.slice();
      out[2]! |= 0x80;
      reply(out);
    },
    (text) => console.error(text),
    "node:dgram",
  );
  console.log(`port ${socket.port} udp ${socket.kind}`);
  await untilStdinCloses();
  await socket.close();
} else {
  const server = new DnsServer({
    listen: { hostname: "127.0.0.1", port: 0 },
    upstreams: [],
    // The limiter's code path runs, at a rate dnsperf cannot reach.
    rateLimit: { perSecond: 1e9, burst: 1e9 },
    udp: mode === "dgram" ? "node:dgram" : "auto",
  });
  await server.start();
  server.setZone(buildZone(benchZoneInput(services, endpoints)));
  console.log(`port ${server.port} udp ${server.udpKind}`);
  await untilStdinCloses();
  await server.stop();
}
