/**
 * Runs a bench inside a network namespace of its own, so that the host ports
 * its containers take cannot collide with anything else on the machine, and
 * ends whatever it left running in that namespace once it exits.
 */

import { pidsIn } from "../net/mesh/testbed.ts";

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
    // Only what the bench started can be in the namespace it made.
    for (const pid of await pidsIn(nsPath)) {
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
