/**
 * A private Docker daemon for the deploy bench: Debian's `docker.io`
 * (installed with apt-get when missing), dockerd on its own data root, exec
 * root, socket, config and cgroup parent, in the bench's network namespace;
 * its API over the socket and its CLI. `stop()` removes every service, leaves
 * the swarm, stops the daemon, kills what it left and removes its files.
 */
import { sleep } from "./_measure.ts";

/** Debian's binaries (not whatever other docker is first on PATH). */
const DOCKERD = "/usr/sbin/dockerd";
const DOCKER = "/usr/bin/docker";
const API = "/v1.41";
const START_TIMEOUT_MS = 60_000;

export interface Docker {
  readonly socket: string;
  /** GET on the API; the JSON answer, or an error naming path and status. */
  get<T>(path: string): Promise<T>;
  /** Runs the CLI against this daemon; throws with its stderr on failure. */
  cli(args: readonly string[], stdin?: string): Promise<string>;
  stop(): Promise<void>;
}

async function run(
  program: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Deno.CommandOutput> {
  return await new Deno.Command(program, {
    args: [...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** Installs Debian's docker.io when dockerd is not there; true when it did. */
export async function ensureDockerInstalled(): Promise<boolean> {
  const status = await run("dpkg-query", ["-W", "-f=${Status}", "docker.io"]);
  if (
    text(status.stdout) === "install ok installed" &&
    await Deno.stat(DOCKERD).then(() => true, () => false)
  ) return false;
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = ["install", "-y", "-qq", "--no-install-recommends"];
  let result = await run("apt-get", [...install, "docker.io"], env);
  if (!result.success) {
    await run("apt-get", ["update", "-qq"], env);
    result = await run("apt-get", [...install, "docker.io"], env);
  }
  if (!result.success) {
    throw new Error(
      `apt-get install docker.io failed: ${text(result.stderr)}`,
    );
  }
  // The package may start the machine's own daemon; the bench runs a private one.
  await run("systemctl", [
    "disable",
    "--now",
    "docker.service",
    "docker.socket",
  ]).catch(() => {/* no systemd: nothing was started */});
  return true;
}

/** One HTTP/1.0 request over the unix socket (the answer is not chunked). */
async function request(
  socket: string,
  method: string,
  path: string,
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    const head =
      `${method} ${API}${path} HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n`;
    const bytes = new TextEncoder().encode(head);
    for (let written = 0; written < bytes.length;) {
      written += await conn.write(bytes.subarray(written));
    }
    const answer = text(
      new Uint8Array(await new Response(conn.readable).arrayBuffer()),
    );
    const split = answer.indexOf("\r\n\r\n");
    const status = Number(answer.slice(0, split).split(" ")[1]);
    return { status, body: answer.slice(split + 4) };
  } finally {
    try {
      conn.close();
    } catch {
      // The readable side closed it.
    }
  }
}

async function pidsMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`)
      .catch(() => "");
    if (cmdline.includes(needle) && Number(entry.name) !== Deno.pid) {
      pids.push(Number(entry.name));
    }
  }
  return pids;
}

async function unmountUnder(dir: string): Promise<void> {
  const targets = (await Deno.readTextFile("/proc/self/mounts")).split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((target) => target.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const target of targets) {
    await run("umount", ["-l", target]);
  }
}

/** Removes `parent` (and any cgroup left under it) from every hierarchy. */
async function removeCgroups(parent: string): Promise<void> {
  // cgroup v2 keeps it at the top; v1 in each hierarchy.
  const hierarchies = [""];
  for await (const entry of Deno.readDir("/sys/fs/cgroup")) {
    if (entry.isDirectory) hierarchies.push(`/${entry.name}`);
  }
  for (const hierarchy of hierarchies) {
    const root = `/sys/fs/cgroup${hierarchy}${parent}`;
    const dirs: string[] = [];
    const walk = async (dir: string) => {
      dirs.push(dir);
      for await (const entry of Deno.readDir(dir)) {
        if (entry.isDirectory) await walk(`${dir}/${entry.name}`);
      }
    };
    await walk(root).catch(() => {});
    for (const dir of dirs.reverse()) await Deno.remove(dir).catch(() => {});
  }
}

/** Starts dockerd with everything of its own; trusts `insecureRegistry`. */
export async function startDocker(insecureRegistry: string): Promise<Docker> {
  const dir = await Deno.makeTempDir({ prefix: "mill-bench-docker-" });
  const socket = `${dir}/docker.sock`;
  const cgroupParent = `/mill-bench-docker-${dir.slice(-6)}`;
  await Deno.writeTextFile(`${dir}/daemon.json`, "{}\n");
  const log = await Deno.open(`${dir}/dockerd.log`, {
    create: true,
    append: true,
  });
  const daemon = new Deno.Command(DOCKERD, {
    args: [
      "--config-file",
      `${dir}/daemon.json`,
      "--data-root",
      `${dir}/data`,
      "--exec-root",
      `${dir}/exec`,
      "--pidfile",
      `${dir}/docker.pid`,
      "--host",
      `unix://${socket}`,
      "--cgroup-parent",
      cgroupParent,
      "--insecure-registry",
      insecureRegistry,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  daemon.stderr.pipeTo(log.writable).catch(() => {});
  let exited = false;
  daemon.status.then(() => exited = true);
  const get = async <T>(path: string): Promise<T> => {
    const answer = await request(socket, "GET", path);
    if (answer.status !== 200) {
      throw new Error(`docker GET ${path}: ${answer.status} ${answer.body}`);
    }
    return JSON.parse(answer.body) as T;
  };
  const cli = async (args: readonly string[], stdin?: string) => {
    const child = new Deno.Command(DOCKER, {
      args: ["--host", `unix://${socket}`, ...args],
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(stdin));
      await writer.close();
    }
    const result = await child.output();
    if (!result.success) {
      throw new Error(`docker ${args.join(" ")}: ${text(result.stderr)}`);
    }
    return text(result.stdout);
  };
  const stop = async () => {
    if (!exited) {
      // Services first (their containers stop with them), then the swarm.
      const services = await get<{ ID: string }[]>("/services").catch(() => []);
      if (services.length > 0) {
        await cli(["service", "rm", ...services.map((s) => s.ID)]).catch(
          () => {},
        );
      }
      await cli(["swarm", "leave", "--force"]).catch(() => {});
      daemon.kill("SIGTERM");
      const killer = setTimeout(() => {
        if (!exited) daemon.kill("SIGKILL");
      }, 20_000);
      await daemon.status;
      clearTimeout(killer);
    }
    // Its containerd and shims name its exec root on their command lines.
    for (const pid of await pidsMentioning(dir)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
    await unmountUnder(dir);
    await removeCgroups(cgroupParent);
    await Deno.remove(dir, { recursive: true }).catch(async () => {
      await sleep(500);
      await unmountUnder(dir);
      await Deno.remove(dir, { recursive: true });
    });
  };
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited) {
        throw new Error(
          `dockerd exited at start; its log: ${await Deno.readTextFile(
            `${dir}/dockerd.log`,
          )}`,
        );
      }
      if (
        await request(socket, "GET", "/_ping").then(() => true, () => false)
      ) {
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`dockerd did not answer within ${START_TIMEOUT_MS} ms`);
      }
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { socket, get, cli, stop };
}
