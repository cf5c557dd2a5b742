/**
 * bench/dns: queries per second and latency of mill's DNS server against
 * dnsmasq serving the same records (`--services` × `--endpoints`, default
 * 50 × 3: A, SRV with additionals, alloc A), the same dnsperf query file,
 * duration and client settings. Each server runs pinned to core 1
 * (`taskset -c 1`), dnsperf to core 0.
 *
 * - Throughput: dnsperf for `--seconds` (default 8) with `--clients`
 *   (default 4) sockets and `--outstanding` (default 100) queries in flight,
 *   as fast as the server answers; `--rounds` (default 3) rounds, sides
 *   alternating, the median round counts.
 * - Latency: dnsperf prints only a mean and a deviation, so p50/p99 come
 *   from a second run with `-v` (one line per query with its latency) at a
 *   fixed rate both servers sustain: half the lower of the two throughputs.
 * - mill runs as shipped: under mill's own permission set
 *   (scripts/permissions), where its UDP socket batches datagrams through
 *   libc by FFI (recvmmsg/sendmmsg); the bench checks that it did. The same
 *   server on node:dgram, its fallback where FFI is refused, is measured
 *   too (`*_dgram`), and so is the floor of the runtime's sockets: the same
 *   node:dgram code answering each datagram with itself (`echo_floor_qps`),
 *   no DNS work at all.
 *
 * Before measuring, the bench checks that both servers give the same
 * answers to every query of the file. Last line: one JSON object.
 *
 * Run: scripts/deno run -A bench/dns.ts [--seconds 8] [--rounds 3]
 */

import { intArg, median, percentile, round } from "./_stats.ts";
import {
  benchZoneInput,
  dnsmasqRecordArgs,
  queryLines,
} from "./_dns_records.ts";

const SECONDS = intArg("seconds", 8);
const ROUNDS = intArg("rounds", 3);
const CLIENTS = intArg("clients", 4);
const OUTSTANDING = intArg("outstanding", 100);
const SERVICES = intArg("services", 50);
const ENDPOINTS = intArg("endpoints", 3);
const SERVER_CORE = "1";
const CLIENT_CORE = "0";

interface Running {
  readonly port: number;
  /** The server's process (taskset execs it: the same pid). */
  readonly pid: number;
  stop(): Promise<void>;
}

/** CPU time a process has used, all threads, in ms (/proc/PID/stat). */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime, the 14th and 15th fields, in clock ticks (100 Hz).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A port free for TCP now (dnsmasq then binds it for UDP and TCP). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

type MillMode = "shipped" | "dgram" | "echo";

async function startMill(mode: MillMode): Promise<Running & { kind: string }> {
  const script = new URL("./_dns_server.ts", import.meta.url).pathname;
  const root = new URL("..", import.meta.url).pathname;
  const serverArgs = [script, String(SERVICES), String(ENDPOINTS), mode];
  // As shipped: the binary's scoped permissions, read from the file that
  // sets them; the other sides need only what the socket code needs.
  const command = mode === "shipped"
    ? [
      "bash",
      "-c",
      `source "$0/scripts/permissions" && exec taskset -c ${SERVER_CORE} "$1" run "\${MILL_PERMISSIONS[@]}" "\${@:2}"`,
      root,
      Deno.execPath(),
      ...serverArgs,
    ]
    : [
      "taskset",
      "-c",
      SERVER_CORE,
      Deno.execPath(),
      "run",
      "-A",
      ...serverArgs,
    ];
  const child = new Deno.Command(command[0]!, {
    args: command.slice(1),
    cwd: root,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/port (\d+) udp (\S+)\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`mill's DNS server exited before listening`);
    text += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  const [, port, kind] = /port (\d+) udp (\S+)\n/.exec(text)!;
  return {
    port: Number(port),
    kind: kind!,
    pid: child.pid,
    async stop() {
      await child.stdin.close();
      await child.status;
    },
  };
}

async function startDnsmasq(): Promise<Running> {
  const port = freePort();
  const child = new Deno.Command("taskset", {
    args: [
      "-c",
      SERVER_CORE,
      "dnsmasq",
      "--no-resolv",
      "--no-hosts",
      "--keep-in-foreground",
      "--bind-interfaces",
      "--listen-address=127.0.0.1",
      `--port=${port}`,
      "--pid-file=",
      "--local=/mill/",
      "--local-ttl=5",
      ...dnsmasqRecordArgs(benchZoneInput(SERVICES, ENDPOINTS)),
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  for (let i = 0; i < 100; i++) {
    const answer = await digShort(port, "svc-0.mill", "A");
    if (answer.length > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await child.stderr.cancel().catch(() => {});
    },
  };
}

async function digShort(
  port: number,
  name: string,
  type: string,
): Promise<string[]> {
  const output = await new Deno.Command("dig", {
    args: [
      "@127.0.0.1",
      "-p",
      String(port),
      "+tries=1",
      "+time=1",
      "+noall",
      "+answer",
      "+additional",
      name,
      type,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(output.stdout).split("\n")
    .filter((l) => l.length > 0 && !l.includes("OPT"))
    .map((l) => l.replace(/\s+/g, " ").toLowerCase()).sort();
}

/** Both servers give the same records (TTL included) to every query. */
async function checkSameAnswers(
  a: Running,
  b: Running,
  lines: readonly string[],
): Promise<void> {
  for (const line of lines) {
    const [name, type] = line.split(" ") as [string, string];
    const [ours, theirs] = await Promise.all([
      digShort(a.port, name, type),
      digShort(b.port, name, type),
    ]);
    if (ours.length === 0 || ours.join("\n") !== theirs.join("\n")) {
      throw new Error(
        `mill and dnsmasq differ on ${line}:\n${ours.join("\n")}\n--\n${
          theirs.join("\n")
        }`,
      );
    }
  }
}

interface PerfRun {
  readonly qps: number;
  readonly lost: number;
  readonly completed: number;
  readonly noerror: number;
  readonly latenciesMs: number[];
}

async function dnsperf(
  port: number,
  queryFile: string,
  seconds: number,
  extra: string[],
): Promise<PerfRun> {
  const output = await new Deno.Command("taskset", {
    args: [
      "-c",
      CLIENT_CORE,
      "dnsperf",
      "-s",
      "127.0.0.1",
      "-p",
      String(port),
      "-d",
      queryFile,
      "-l",
      String(seconds),
      "-c",
      String(CLIENTS),
      "-q",
      String(OUTSTANDING),
      "-t",
      "2",
      ...extra,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const figure = (pattern: RegExp) => {
    const match = pattern.exec(text);
    if (match === null) {
      throw new Error(
        `dnsperf printed no ${pattern}:\n${text}\n${
          new TextDecoder().decode(output.stderr)
        }`,
      );
    }
    return Number(match[1]);
  };
  const latenciesMs: number[] = [];
  for (const match of text.matchAll(/^> \w+ \S+ \S+ ([0-9.]+)$/gm)) {
    latenciesMs.push(Number(match[1]) * 1000);
  }
  latenciesMs.sort((x, y) => x - y);
  return {
    qps: figure(/Queries per second:\s+([0-9.]+)/),
    lost: figure(/Queries lost:\s+(\d+)/),
    completed: figure(/Queries completed:\s+(\d+)/),
    noerror: /NOERROR (\d+)/.test(text) ? figure(/NOERROR (\d+)/) : 0,
    latenciesMs,
  };
}

/** Throughput rounds against `server`; every answer must be NOERROR. */
function checkRun(name: string, run: PerfRun): void {
  if (run.completed === 0 || run.noerror !== run.completed) {
    throw new Error(
      `${name}: ${run.noerror} of ${run.completed} answers were NOERROR`,
    );
  }
}

async function main(): Promise<void> {
  const input = benchZoneInput(SERVICES, ENDPOINTS);
  const lines = queryLines(input);
  const dir = await Deno.makeTempDir({ prefix: "mill-bench-dns-" });
  const queryFile = `${dir}/queries.txt`;
  await Deno.writeTextFile(queryFile, lines.join("\n") + "\n");
  const sides: Record<string, Running> = {};
  try {
    const shipped = await startMill("shipped");
    sides.mill = shipped;
    if (shipped.kind !== "ffi") {
      throw new Error(
        `mill's DNS ran on ${shipped.kind} under its own permissions, not the FFI socket`,
      );
    }
    sides.mill_dgram = await startMill("dgram");
    sides.dnsmasq = await startDnsmasq();
    sides.echo_floor = await startMill("echo");
    await checkSameAnswers(sides.mill, sides.dnsmasq, lines);
    await checkSameAnswers(sides.mill_dgram, sides.dnsmasq, lines);

    const order = ["mill", "dnsmasq", "mill_dgram"];
    const throughputOrder = [...order, "echo_floor"];
    const qps: Record<string, number[]> = {};
    const cpuUsPerQuery: Record<string, number[]> = {};
    const lost: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const sequence = round % 2 === 0
        ? throughputOrder
        : [...throughputOrder].reverse();
      for (const name of sequence) {
        const cpuBefore = cpuMs(sides[name]!.pid);
        const run = await dnsperf(sides[name]!.port, queryFile, SECONDS, []);
        const cpuUsed = cpuMs(sides[name]!.pid) - cpuBefore;
        if (name !== "echo_floor") checkRun(name, run);
        (cpuUsPerQuery[name] ??= []).push(cpuUsed * 1000 / run.completed);
        (qps[name] ??= []).push(run.qps);
        lost[name] = (lost[name] ?? 0) + run.lost;
      }
    }
    const medianQps = (name: string) => median(qps[name]!);
    const cpuPerQuery = (name: string) =>
      round(median(cpuUsPerQuery[name]!), 2);
    // Latency at a rate both sustain: half the lower throughput.
    const rate = Math.floor(
      Math.min(medianQps("mill"), medianQps("dnsmasq")) / 2,
    );
    const latency: Record<string, PerfRun> = {};
    for (const name of order) {
      const run = await dnsperf(
        sides[name]!.port,
        queryFile,
        Math.max(2, Math.ceil(SECONDS / 2)),
        ["-v", "-Q", String(rate)],
      );
      checkRun(name, run);
      if (run.latenciesMs.length !== run.completed) {
        throw new Error(
          `${name}: ${run.latenciesMs.length} latency lines for ${run.completed} answers`,
        );
      }
      latency[name] = run;
    }
    const p = (name: string, q: number) =>
      round(percentile(latency[name]!.latenciesMs, q), 3);
    console.log(JSON.stringify({
      bench: "dns",
      qps: round(medianQps("mill"), 0),
      anchor_qps: round(medianQps("dnsmasq"), 0),
      ratio: round(medianQps("mill") / medianQps("dnsmasq"), 3),
      p99_ms: p("mill", 0.99),
      anchor_p99_ms: p("dnsmasq", 0.99),
      p50_ms: p("mill", 0.5),
      anchor_p50_ms: p("dnsmasq", 0.5),
      udp_kind: shipped.kind,
      qps_dgram: round(medianQps("mill_dgram"), 0),
      ratio_dgram: round(medianQps("mill_dgram") / medianQps("dnsmasq"), 3),
      p99_ms_dgram: p("mill_dgram", 0.99),
      echo_floor_qps: round(medianQps("echo_floor"), 0),
      cpu_us_per_query: cpuPerQuery("mill"),
      anchor_cpu_us_per_query: cpuPerQuery("dnsmasq"),
      cpu_us_per_query_dgram: cpuPerQuery("mill_dgram"),
      echo_floor_cpu_us_per_query: cpuPerQuery("echo_floor"),
      qps_rounds: Object.fromEntries(
        Object.entries(qps).map(([k, v]) => [k, v.map((x) => round(x, 0))]),
      ),
      lost,
      latency_rate_qps: rate,
      latency_queries: latency.mill!.completed,
      services: SERVICES,
      endpoints: ENDPOINTS,
      queries_in_file: lines.length,
      seconds: SECONDS,
      rounds: ROUNDS,
      clients: CLIENTS,
      outstanding: OUTSTANDING,
    }));
  } finally {
    for (const side of Object.values(sides)) await side.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

await main();
