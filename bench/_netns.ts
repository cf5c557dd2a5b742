/**
 * Runs a bench inside a network namespace of its own, so that the host ports
 * its containers take cannot collide with anything else on the machine, and
 * ends whatever it left running in that namespace once it exits.
 */

/** Set in the re-run script's environment: it is inside its namespace. */
export const NETNS_ENV = "MILL_BENCH_IN_NETNS";

export function inOwnNetwork(): boolean {
  return Deno.env.get(NETNS_ENV) === "1";
}

async function ip(...args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command("ip", {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
}

/** The network namespace inode of a path such as /proc/1/ns/net. */
async function netnsInode(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).ino;
  } catch {
    return null;
  }
}

/**
 * Pids of the processes in the namespace at `nsPath`: only what the bench
 * started can be there (it made the namespace).
 */
async function pidsInNamespace(nsPath: string): Promise<number[]> {
  const inode = await netnsInode(nsPath);
  if (inode === null) return [];
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    if (await netnsInode(`/proc/${entry.name}/ns/net`) === inode) {
      pids.push(Number(entry.name));
    }
  }
  return pids;
}

/**
 * Re-runs `script` inside a fresh network namespace (loopback up); its exit
 * status. A process the run left behind in the namespace is killed, named
 * on stderr, before the namespace is deleted.
 */
export async function runInOwnNetwork(script: URL): Promise<number> {
  const name = `mill-b-${crypto.randomUUID().slice(0, 8)}`;
  const added = await ip("netns", "add", name);
  if (!added.success) {
    throw new Error(`ip netns add: ${new TextDecoder().decode(added.stderr)}`);
  }
  const nsPath = `/var/run/netns/${name}`;
  try {
    await ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
    // nsenter, not `ip netns exec`, which remounts /sys and hides cgroups.
    const child = new Deno.Command("nsenter", {
      args: [
        `--net=${nsPath}`,
        Deno.execPath(),
        "run",
        "-A",
        script.pathname,
      ],
      env: { [NETNS_ENV]: "1" },
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    // Ctrl-C reaches the child too (same process group); wait for its cleanup.
    const ignore = () => {};
    Deno.addSignalListener("SIGINT", ignore);
    try {
      return (await child.status).code;
    } finally {
      Deno.removeSignalListener("SIGINT", ignore);
    }
  } finally {
    for (const pid of await pidsInNamespace(nsPath)) {
      const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(
        () => "",
      );
      console.error(
        `bench: killing ${pid} left in ${name}: ${
          cmdline.replaceAll("\0", " ")
        }`,
      );
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
    await ip("netns", "delete", name);
  }
}
