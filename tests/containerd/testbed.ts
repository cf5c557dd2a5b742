/**
 * The test bed: a private containerd and private registries in temporary
 * directories, on their own socket and loopback ports, and the test images
 * pushed into them. Each `start…` returns a handle whose `stop()` leaves no
 * process, mount or directory behind. Reused by the agent's end-to-end tests.
 */
import {
  startTokenServer,
  TOKEN_ISSUER,
  TOKEN_SERVICE,
  type TokenServer,
} from "./_token_server.ts";
import {
  buildTestImageLayout,
  pushTestImages,
  type TestImageName,
} from "./images.ts";

export {
  buildTestImageLayout,
  packLayoutArchive,
  pushTestImages,
  TEST_IMAGES,
  type TestImageName,
} from "./images.ts";

/** A private containerd's config: its dirs and socket, no CRI, no GC delay. */
export function containerdConfig(dir: string, socket: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  address = ""
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.gc.v1.scheduler"]
  deletion_threshold = 0
`;
}

/** How long a daemon may take to answer after it is started. */
export const START_TIMEOUT_MS = 20_000;
const POLL_MS = 20;

export interface ContainerdHandle {
  readonly dir: string;
  readonly socketPath: string;
  /** runc state root for this containerd's containers (RunnerOptions.runcRoot). */
  readonly runcRoot: string;
  /** cgroup parent for this containerd's containers (detectHostFacts(cgroupParent)). */
  readonly cgroupParent: string;
  /** Stops containerd (the state and root stay) and starts it again. */
  restart(): Promise<void>;
  /** Kills containerd and every shim it started, unmounts, removes `dir`. */
  stop(): Promise<void>;
}

export interface RegistryHandle {
  /** `127.0.0.1:<port>`. */
  readonly host: string;
  readonly credentials?: { username: string; password: string };
  stop(): Promise<void>;
}

/** A free loopback TCP port (closed again at once; a race we accept in tests). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = START_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms`);
}

async function socketAnswers(path: string): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function killProcess(process: Deno.ChildProcess): Promise<void> {
  try {
    process.kill("SIGTERM");
  } catch {
    // Already exited.
  }
  const timer = setTimeout(() => {
    try {
      process.kill("SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }, 5_000);
  await process.status;
  clearTimeout(timer);
}

/** Pids of processes whose command line mentions `needle` (our shims, by socket path). */
async function pidsMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(needle) && Number(entry.name) !== Deno.pid) {
        pids.push(Number(entry.name));
      }
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await Deno.readTextFile("/proc/self/mounts")).split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((target) => target.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const target of mounts) {
    await new Deno.Command("umount", { args: ["-l", target], stderr: "null" })
      .output();
  }
}

/** Removes our (empty) cgroup parent from every hierarchy. */
async function removeCgroups(parent: string): Promise<void> {
  const roots = ["/sys/fs/cgroup"];
  try {
    for await (const entry of Deno.readDir("/sys/fs/cgroup")) {
      if (entry.isDirectory) roots.push(`/sys/fs/cgroup/${entry.name}`);
    }
  } catch {
    return;
  }
  for (const root of roots) {
    await Deno.remove(`${root}${parent}`).catch(() => {
      // Absent in this hierarchy.
    });
  }
}

/** Starts containerd with its own config, root, state and socket in a temp dir. */
export async function startContainerd(
  options: {
    /**
     * Runs containerd under this command, e.g. `["ip", "netns", "exec",
     * "node1"]` for a node in its own network namespace.
     */
    commandPrefix?: readonly string[];
  } = {},
): Promise<ContainerdHandle> {
  const prefix = options.commandPrefix ?? [];
  const dir = await Deno.makeTempDir({ prefix: "mill-containerd-" });
  const socketPath = `${dir}/containerd.sock`;
  const config = containerdConfig(dir, socketPath);
  await Deno.writeTextFile(`${dir}/config.toml`, config);
  let process = await spawnContainerd(dir, socketPath, prefix);
  const cgroupParent = `/mill-test-${dir.slice(-6)}`;
  const handle: ContainerdHandle = {
    dir,
    socketPath,
    runcRoot: `${dir}/runc`,
    cgroupParent,
    async restart() {
      await killProcess(process);
      await Deno.remove(socketPath).catch(() => {});
      process = await spawnContainerd(dir, socketPath, prefix);
    },
    async stop() {
      await killProcess(process);
      // Shims outlive containerd by design; ours name our socket on their command line.
      for (const pid of await pidsMentioning(socketPath)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }
      await unmountUnder(dir);
      await removeCgroups(cgroupParent);
      await Deno.remove(dir, { recursive: true });
    },
  };
  return handle;
}

async function spawnContainerd(
  dir: string,
  socketPath: string,
  prefix: readonly string[],
): Promise<Deno.ChildProcess> {
  const log = await Deno.open(`${dir}/containerd.log`, {
    append: true,
    create: true,
  });
  const [program, ...prefixArgs] = [...prefix, "containerd"];
  const process = new Deno.Command(program!, {
    args: [...prefixArgs, "--config", `${dir}/config.toml`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Keep its log for failures without holding a pipe open forever.
  process.stderr.pipeTo(log.writable).catch(() => {});
  await waitFor(
    `containerd at "${socketPath}"`,
    () => socketAnswers(socketPath),
  );
  return process;
}

/** Starts a docker-registry on a loopback port, basic auth when credentials are given. */
export async function startRegistry(
  options: {
    credentials?: { username: string; password: string };
    /** `basic` (htpasswd, the default with credentials) or `token` (bearer JWTs). */
    auth?: "basic" | "token";
  } = {},
): Promise<RegistryHandle> {
  const dir = await Deno.makeTempDir({ prefix: "mill-registry-" });
  const port = freePort();
  const host = `127.0.0.1:${port}`;
  let auth = "";
  let tokenServer: TokenServer | undefined;
  if (options.credentials && options.auth === "token") {
    tokenServer = await startTokenServer(dir, options.credentials);
    auth =
      `auth:\n  token:\n    realm: ${tokenServer.realm}\n    service: ${TOKEN_SERVICE}\n` +
      `    issuer: ${TOKEN_ISSUER}\n    rootcertbundle: ${tokenServer.certPath}\n`;
  } else if (options.credentials) {
    const result = await new Deno.Command("htpasswd", {
      args: [
        "-Bbn",
        options.credentials.username,
        options.credentials.password,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!result.success) {
      throw new Error(
        `htpasswd failed: ${new TextDecoder().decode(result.stderr)}`,
      );
    }
    await Deno.writeFile(`${dir}/htpasswd`, result.stdout);
    auth =
      `auth:\n  htpasswd:\n    realm: mill-test\n    path: ${dir}/htpasswd\n`;
  }
  await Deno.writeTextFile(
    `${dir}/config.yml`,
    `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
http:
  addr: ${host}
${auth}`,
  );
  const process = new Deno.Command("docker-registry", {
    args: ["serve", `${dir}/config.yml`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitFor(`registry at ${host}`, async () => {
    try {
      const response = await fetch(`http://${host}/v2/`);
      await response.body?.cancel();
      return response.status === 200 || response.status === 401;
    } catch {
      return false;
    }
  });
  return {
    host,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    async stop() {
      await killProcess(process);
      await tokenServer?.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Builds the test images once per process into a temp layout (removed by `cleanup`). */
export async function buildTestImages(): Promise<
  { layoutDir: string; cleanup(): Promise<void> }
> {
  const layoutDir = await Deno.makeTempDir({ prefix: "mill-images-" });
  await buildTestImageLayout(layoutDir);
  return {
    layoutDir,
    cleanup: () => Deno.remove(layoutDir, { recursive: true }),
  };
}

/** containerd + an open registry with the test images pushed. */
export interface TestBed {
  readonly containerd: ContainerdHandle;
  readonly registry: RegistryHandle;
  readonly layoutDir: string;
  readonly images: Record<TestImageName, string>;
  stop(): Promise<void>;
}

export async function startTestBed(): Promise<TestBed> {
  const built = await buildTestImages();
  const [containerd, registry] = await Promise.all([
    startContainerd(),
    startRegistry(),
  ]);
  const images = await pushTestImages(built.layoutDir, registry.host);
  return {
    containerd,
    registry,
    layoutDir: built.layoutDir,
    images,
    async stop() {
      await Promise.all([containerd.stop(), registry.stop(), built.cleanup()]);
    },
  };
}
