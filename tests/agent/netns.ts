/**
 * Runs a test file in a network namespace of its own (loopback only), so
 * that host ports its containers take (they share the host's network) never
 * collide with anything else on the machine: other tests running at the
 * same time, or stray processes. Only the network is separate; the mounts,
 * cgroups and files are the machine's.
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/** Runs `deno test -A <file>` inside a fresh netns; resolves with its output when it passes. */
export async function testInOwnNetwork(file: string): Promise<string> {
  const name = `mill-t-${crypto.randomUUID().slice(0, 8)}`;
  const ip = (...args: string[]) =>
    new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  const added = await ip("netns", "add", name);
  if (!added.success) {
    throw new Error(`ip netns add: ${new TextDecoder().decode(added.stderr)}`);
  }
  try {
    await ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
    // nsenter, not `ip netns exec`: that one also remounts /sys, which
    // hides the cgroup mounts runc needs.
    const child = await new Deno.Command("nsenter", {
      args: [
        `--net=/var/run/netns/${name}`,
        Deno.execPath(),
        "test",
        "-A",
        "--quiet",
        `${ROOT}${file}`,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const output = new TextDecoder().decode(child.stdout) +
      new TextDecoder().decode(child.stderr);
    if (!child.success) throw new Error(`${file} failed:\n${output}`);
    return output;
  } finally {
    await ip("netns", "delete", name);
  }
}
