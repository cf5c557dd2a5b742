/**
 * The dns bench's records, the same for mill and dnsmasq: `services`
 * services of `endpoints` endpoints each (allocs with a port, so SRV too),
 * and the query file dnsperf replays against both.
 */

import type { ZoneInput } from "../net/dns/zone.ts";

export function benchZoneInput(services: number, endpoints: number): ZoneInput {
  const list: ZoneInput["services"][number][] = [];
  const allocs: { id: string; address: string }[] = [];
  for (let s = 0; s < services; s++) {
    const eps = [];
    for (let e = 0; e < endpoints; e++) {
      const id = `svc-${s}-a${e}`;
      const host = s * endpoints + e + 2;
      const address = `10.210.${host >> 8}.${host & 255}`;
      allocs.push({ id, address });
      eps.push({ allocId: id, address, port: 8000 + s });
    }
    list.push({ name: `svc-${s}`, endpoints: eps });
  }
  return {
    services: list,
    allocs,
    nodes: [{ name: "n1", address: "10.0.0.1" }],
  };
}

/** dnsmasq's options serving the same A and SRV records. */
export function dnsmasqRecordArgs(input: ZoneInput): string[] {
  const args: string[] = [];
  const byName = new Map<string, string[]>();
  for (const alloc of input.allocs) {
    byName.set(`${alloc.id}.alloc.mill`, [alloc.address]);
  }
  for (const node of input.nodes) {
    byName.set(`${node.name}.node.mill`, [node.address]);
  }
  for (const service of input.services) {
    byName.set(`${service.name}.mill`, service.endpoints.map((e) => e.address));
    for (const e of service.endpoints) {
      args.push(
        `--srv-host=_${service.name}._tcp.mill,${e.allocId}.alloc.mill,${e.port},0,1`,
      );
    }
  }
  // One --host-record per address: dnsmasq answers every address of a name.
  for (const [name, addresses] of byName) {
    for (const address of addresses) {
      args.push(`--host-record=${name},${address}`);
    }
  }
  return args;
}

/** dnsperf lines: each service's A and SRV, and every alloc's A. */
export function queryLines(input: ZoneInput): string[] {
  const lines: string[] = [];
  for (const service of input.services) {
    lines.push(`${service.name}.mill A`, `_${service.name}._tcp.mill SRV`);
  }
  for (const alloc of input.allocs) lines.push(`${alloc.id}.alloc.mill A`);
  return lines;
}
