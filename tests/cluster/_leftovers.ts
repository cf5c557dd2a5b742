/**
 * What a bed may leave on the machine, looked for from the outside:
 * namespaces with its prefix, links and nft tables in the root namespace
 * that name it, mounts under its dir, processes whose command line or
 * working dir mention its dir or namespaces, its dir itself, and the runc
 * state and cgroups of the containers its nodes ran.
 */
import { cgroupPaths, DEFAULT_RUNC_ROOT } from "./_node.ts";
import { run } from "./_run.ts";
import {
  namespacesWithPrefix,
  pidsInNetns,
  wireguardSockets,
} from "./_underlay.ts";

export interface LeftoverScope {
  /** `mb-<hex>`: namespaces `<prefix>-…`. */
  readonly prefix: string;
  readonly dir: string;
  /** Ids of the containers the bed's nodes made. */
  readonly containerIds: readonly string[];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function commandLine(pid: number): Promise<string> {
  const text = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
  return text.replaceAll("\0", " ").trim().slice(0, 200);
}

async function processesMentioning(
  needles: readonly string[],
  skip: ReadonlySet<number>,
): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    if (pid === Deno.pid || skip.has(pid)) continue;
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`))
        .replaceAll("\0", " ").trim();
      const cwd = await Deno.readLink(`/proc/${entry.name}/cwd`).catch(() =>
        ""
      );
      if (needles.some((n) => cmdline.includes(n) || cwd.startsWith(n))) {
        found.push(`process ${entry.name}: ${cmdline.slice(0, 200)}`);
      }
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

/** Everything of `scope` still on the machine, one line each; empty when clean. */
export async function findLeftovers(scope: LeftoverScope): Promise<string[]> {
  const found: string[] = [];
  const inNamespaces = new Set<number>();
  for (const ns of await namespacesWithPrefix(scope.prefix)) {
    found.push(`network namespace ${ns}`);
    for (const pid of await pidsInNetns(ns)) {
      inNamespaces.add(pid);
      found.push(`process ${pid} in ${ns}: ${await commandLine(pid)}`);
    }
  }
  for (const socket of await wireguardSockets(scope.prefix)) {
    found.push(`WireGuard socket ${socket}`);
  }
  const links = await run(["ip", "-o", "link", "show"], { timeoutMs: 10_000 });
  for (const line of links.stdout.split("\n")) {
    const name = line.split(": ")[1]?.split("@")[0] ?? "";
    if (name.includes(scope.prefix)) found.push(`link ${name}`);
  }
  const tables = await run(["nft", "list", "tables"], { timeoutMs: 10_000 });
  for (const line of tables.stdout.split("\n")) {
    if (line.includes(scope.prefix.replaceAll("-", "_"))) {
      found.push(`nft ${line.trim()}`);
    }
  }
  const mounts = (await Deno.readTextFile("/proc/self/mounts")).split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((target) => target.startsWith(`${scope.dir}/`));
  for (const target of mounts) found.push(`mount ${target}`);
  for (const loop of await loopDevicesUnder(scope.dir)) {
    found.push(`loop device ${loop.device} on ${loop.file}`);
  }
  found.push(
    ...await processesMentioning([
      scope.dir,
      `/var/run/netns/${scope.prefix}-`,
    ], inNamespaces),
  );
  if (await exists(scope.dir)) found.push(`directory ${scope.dir}`);
  for (const id of scope.containerIds) {
    if (await exists(`${DEFAULT_RUNC_ROOT}/${id}`)) {
      found.push(`runc state ${DEFAULT_RUNC_ROOT}/${id}`);
    }
    for (const path of await cgroupPaths(id)) found.push(`cgroup ${path}`);
  }
  return found;
}

/** Loop devices whose backing file is under `dir` (volumes of a bed's nodes). */
export async function loopDevicesUnder(
  dir: string,
): Promise<{ device: string; file: string }[]> {
  const listed = await run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], {
    timeoutMs: 10_000,
  });
  return listed.stdout.split("\n").flatMap((line) => {
    const [device, ...rest] = line.trim().split(/\s+/);
    const file = rest.join(" ").replace(/ \(deleted\)$/, "");
    return device !== undefined && file.startsWith(`${dir}/`)
      ? [{ device, file }]
      : [];
  });
}
