/**
 * The scale bench's view of the agents' processes from /proc: each node's
 * agent PID (the Deno process running `main.ts` with that node's
 * `--data-dir`), its CPU time (utime + stime of all its threads) and its
 * resident memory (VmRSS), and a sampler that keeps the largest RSS seen.
 */

/** Clock ticks per second of /proc/PID/stat (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

/** The PID of the agent whose command line has `--data-dir DIR`; throws when none runs. */
export async function agentPid(dataDir: string): Promise<number> {
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let argv: string[];
    try {
      argv = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`))
        .split("\0");
    } catch {
      continue; // exited meanwhile
    }
    const at = argv.indexOf("--data-dir");
    if (
      at >= 0 && argv[at + 1] === dataDir &&
      argv.some((a) => a.endsWith("/main.ts"))
    ) {
      return Number(entry.name);
    }
  }
  throw new Error(
    `no agent process runs with --data-dir ${dataDir}; is the node up?`,
  );
}

/** utime + stime of `pid`, in seconds. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces: count fields after its ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`cannot read utime/stime from /proc/${pid}/stat`);
  }
  return (utime + stime) / TICKS_PER_S;
}

/** VmRSS of `pid` in MiB. */
export async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = status.match(/^VmRSS:\s+(\d+)\s+kB$/m);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

/** A CPU window on one process: percent of one core between start() and stop(). */
export class CpuWindow {
  #cpu0 = 0;
  #t0 = 0;
  constructor(readonly pid: number) {}

  async start(): Promise<void> {
    this.#cpu0 = await cpuSeconds(this.pid);
    this.#t0 = performance.now();
  }

  /** Percent of one core (100 = one core busy the whole window). */
  async stop(): Promise<number> {
    const cpu = await cpuSeconds(this.pid) - this.#cpu0;
    const wall = (performance.now() - this.#t0) / 1000;
    return (100 * cpu) / wall;
  }
}

/**
 * Samples the RSS of every PID in `pids` every `intervalMs` until stop();
 * keeps each one's largest. A PID that is gone (a killed node) is skipped.
 */
export class RssSampler {
  readonly #max = new Map<number, number>();
  #running = true;
  readonly #loop: Promise<void>;

  constructor(readonly pids: readonly number[], intervalMs = 500) {
    this.#loop = (async () => {
      while (this.#running) {
        await this.sample();
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    })();
  }

  async sample(): Promise<void> {
    for (const pid of this.pids) {
      try {
        const mb = await rssMb(pid);
        this.#max.set(pid, Math.max(this.#max.get(pid) ?? 0, mb));
      } catch {
        // Gone.
      }
    }
  }

  /** The largest RSS seen of each PID (MiB). */
  async stop(): Promise<Map<number, number>> {
    this.#running = false;
    await this.#loop;
    await this.sample();
    if (this.#max.size === 0) throw new Error("no agent's RSS could be read");
    return this.#max;
  }
}

/** The busiest second of `pid` (percent of one core) until stop(). */
export class CpuPeak {
  #peak = 0;
  #running = true;
  readonly #loop: Promise<void>;

  constructor(readonly pid: number, intervalMs = 1000) {
    this.#loop = (async () => {
      let cpu = await cpuSeconds(pid).catch(() => NaN);
      let t = performance.now();
      while (this.#running) {
        await new Promise((r) => setTimeout(r, intervalMs));
        const now = await cpuSeconds(pid).catch(() => NaN);
        const wall = (performance.now() - t) / 1000;
        const pct = (100 * (now - cpu)) / wall;
        if (Number.isFinite(pct)) this.#peak = Math.max(this.#peak, pct);
        [cpu, t] = [now, performance.now()];
      }
    })();
  }

  async stop(): Promise<number> {
    this.#running = false;
    await this.#loop;
    return this.#peak;
  }
}

/**
 * A 4 KiB append + fdatasync in `dir` every `intervalMs` until stop(): the
 * slowest one is what a Raft log's flush on this disk waited at worst.
 */
export class FsyncProbe {
  #maxMs = 0;
  #running = true;
  readonly #loop: Promise<void>;

  constructor(readonly dir: string, intervalMs = 100) {
    this.#loop = (async () => {
      const path = `${dir}/fsync-probe`;
      const file = await Deno.open(path, { create: true, append: true });
      const block = new Uint8Array(4096);
      try {
        while (this.#running) {
          const t0 = performance.now();
          await file.write(block);
          await file.syncData();
          this.#maxMs = Math.max(this.#maxMs, performance.now() - t0);
          await new Promise((r) => setTimeout(r, intervalMs));
        }
      } finally {
        file.close();
        await Deno.remove(path).catch(() => {});
      }
    })();
  }

  /** The slowest append + fdatasync seen, in ms. */
  async stop(): Promise<number> {
    this.#running = false;
    await this.#loop;
    return this.#maxMs;
  }
}
