/**
 * The OCI runtime spec of a mill container: the defaults containerd's
 * `oci.WithDefaultSpec` sets (capabilities, masked and read-only paths,
 * /proc /dev /sys mounts, namespaces) with host networking or the alloc's
 * own network namespace (`ContainerRequest.network`), the image config
 * merged with mill's command, args and env, and cgroup limits from the
 * declared cpu and memory. Pure.
 *
 * Secret env never enters the spec: containerd keeps the spec in its
 * meta.db and writes it to the bundle's config.json, both mode 0644. A
 * request's `secretEnv` is written by the runner to a file only the
 * container's user may read, bind-mounted read-only at
 * `SECRET_ENV_FILE_PATH`, and the process starts through the env-exec
 * wrapper (`SECRET_ENV_EXEC_PATH`), which adds those variables and execs
 * the real command (node/secondary/env_exec.c).
 */
import { ContainerdError } from "./errors.ts";
import type { ImageConfig } from "./oci.ts";

export const CPU_PERIOD_US = 100_000;
export const DEFAULT_PATH =
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The capabilities container engines grant by default (containerd, docker). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

export const MASKED_PATHS: readonly string[] = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/sys/firmware",
  "/proc/scsi",
];

export const READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** Where a container sees the env-exec wrapper (in /run, mill's own tmpfs). */
export const SECRET_ENV_EXEC_PATH = "/run/mill/env-exec";
/** Where a container sees its secret env file, read by env-exec. */
export const SECRET_ENV_FILE_PATH = "/run/mill/secret-env";

/**
 * Env variables that must not appear in the OCI spec, and the host files
 * that carry them into the container instead.
 */
export interface SecretEnv {
  /** The variables; they override the image's and `env`'s of the same name. */
  readonly values: Readonly<Record<string, string>>;
  /** Host path of the env-exec wrapper, a static executable. */
  readonly execPath: string;
  /**
   * Host path the runner writes `values` to: mode 0400, owned by the
   * container's user. Its directory must be closed to group and others.
   */
  readonly filePath: string;
}

export interface BindMount {
  readonly hostPath: string;
  readonly containerPath: string;
  readonly readonly?: boolean;
  /**
   * Scratch space of the container's own (an ephemeral volume): the runner
   * gives `hostPath` to the container's user before the container is made,
   * and it is mounted `nosuid,nodev`.
   */
  readonly ownedByUser?: boolean;
}

/**
 * The alloc's own network: a namespace made beforehand (net/containers),
 * joined by the container instead of the host's network.
 */
export interface ContainerNetworkAttachment {
  /** The namespace to join, like `/run/netns/mill-a-web-1`. */
  readonly netnsPath: string;
  /** Host file bind-mounted read-only at /etc/resolv.conf. */
  readonly resolvConfPath?: string;
  /** Host file bind-mounted read-only at /etc/hosts (the alloc's hostname). */
  readonly hostsPath?: string;
}

/** What mill asks for; the image config fills the rest. */
export interface ContainerRequest {
  readonly id: string;
  readonly image: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Env delivered through a file and env-exec, never through the spec. */
  readonly secretEnv?: SecretEnv;
  readonly cpu?: number;
  readonly memoryBytes?: number;
  readonly mounts?: readonly BindMount[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly workingDir?: string;
  readonly user?: string;
  /** The alloc's network namespace; host networking when absent. */
  readonly network?: ContainerNetworkAttachment;
}

export interface HostFacts {
  /** cgroup v2 (unified) or v1. */
  readonly cgroupVersion: 1 | 2;
  /** Whether cgroup v1 has swap accounting (memory.memsw.*). */
  readonly swapAccounting: boolean;
  /** cgroup parent path, e.g. `/mill`. */
  readonly cgroupParent: string;
  readonly hostname: string;
  /**
   * Bind-mounted read-only for name resolution under host networking (not
   * with a `network`: the host's resolver may be unreachable from there).
   */
  readonly hostFiles: readonly string[];
}

/** Entrypoint and cmd merged as docker does: command replaces the entrypoint and drops the image's cmd. */
export function processArgs(
  request: ContainerRequest,
  image: ImageConfig,
): string[] {
  const entrypoint = request.command ?? image.entrypoint;
  const cmd = request.args ?? (request.command === undefined ? image.cmd : []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new ContainerdError(
      "image.no_command",
      `Image "${request.image}" has no entrypoint or cmd and container "${request.id}" gives no command; set command in the config`,
    );
  }
  return args;
}

/**
 * Image env, then mill's env over it (by variable name); PATH defaulted.
 * The names of `secretEnv` are left out: env-exec sets them.
 */
export function processEnv(
  request: ContainerRequest,
  image: ImageConfig,
): string[] {
  const env = new Map<string, string>();
  env.set("PATH", DEFAULT_PATH);
  for (const entry of image.env) {
    const eq = entry.indexOf("=");
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  for (const [k, v] of Object.entries(request.env ?? {})) env.set(k, v);
  for (const k of Object.keys(request.secretEnv?.values ?? {})) env.delete(k);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/** Whether the request has secret env to deliver (an empty one has none). */
export function hasSecretEnv(request: ContainerRequest): boolean {
  return Object.keys(request.secretEnv?.values ?? {}).length > 0;
}

/**
 * The secret env file's bytes: `NAME=VALUE` entries, each ended by a NUL,
 * as env-exec reads them. Refuses (`container.start_failed`, naming the
 * variable, never its value) a name that is empty or holds `=` or a NUL,
 * and a value that holds a NUL, which no process environment can carry.
 */
export function encodeSecretEnv(
  containerId: string,
  values: Readonly<Record<string, string>>,
): Uint8Array {
  let text = "";
  for (const [name, value] of Object.entries(values)) {
    if (name === "" || name.includes("=") || name.includes("\0")) {
      throw new ContainerdError(
        "container.start_failed",
        `Container "${containerId}" has an env variable named ${
          JSON.stringify(name)
        }; env names cannot be empty or hold "=" or a NUL`,
      );
    }
    if (value.includes("\0")) {
      throw new ContainerdError(
        "container.start_failed",
        `Env variable "${name}" of container "${containerId}" holds a NUL character, which an environment cannot carry; set the secret without it`,
      );
    }
    text += `${name}=${value}\0`;
  }
  return new TextEncoder().encode(text);
}

/** The image's /etc/passwd and /etc/group, to resolve user and group names. */
export interface Accounts {
  readonly passwd: string;
  readonly group: string;
}

/** Whether `user` names a user or group that only the image's files can resolve. */
export function userNeedsAccounts(user: string): boolean {
  return user !== "" && user !== "root" && !/^\d+(?::\d+)?$/.test(user);
}

function lookupAccount(
  table: string,
  name: string,
  idField: number,
): { id: number; gid?: number } | undefined {
  for (const line of table.split("\n")) {
    const fields = line.split(":");
    if (fields[0] !== name) continue;
    const id = Number(fields[idField]);
    const gid = Number(fields[3]);
    if (!Number.isSafeInteger(id)) return undefined;
    return idField === 2 && Number.isSafeInteger(gid) ? { id, gid } : { id };
  }
  return undefined;
}

/**
 * `user[:group]` as docker reads it: numbers as they are, names looked up in
 * the image's /etc/passwd and /etc/group; a user's gid defaults to its
 * passwd entry (or the uid when numeric).
 */
export function processUser(
  request: ContainerRequest,
  image: ImageConfig,
  accounts?: Accounts,
): { uid: number; gid: number } {
  const user = request.user ?? image.user;
  if (user === "" || user === "root") return { uid: 0, gid: 0 };
  const [userPart = "", groupPart] = user.split(":");
  const unknown = (what: string) =>
    new ContainerdError(
      "container.user_unknown",
      `Container "${request.id}" runs as ${what}, which image "${request.image}" does not define in /etc/passwd or /etc/group`,
    );
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    gid = accounts === undefined
      ? undefined
      : lookupAccountById(accounts.passwd, uid);
  } else {
    const entry = accounts === undefined
      ? undefined
      : lookupAccount(accounts.passwd, userPart, 2);
    if (entry === undefined) throw unknown(`user "${userPart}"`);
    uid = entry.id;
    gid = entry.gid;
  }
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const entry = accounts === undefined
        ? undefined
        : lookupAccount(accounts.group, groupPart, 2);
      if (entry === undefined) throw unknown(`group "${groupPart}"`);
      gid = entry.id;
    }
  }
  return { uid, gid: gid ?? uid };
}

function lookupAccountById(passwd: string, uid: number): number | undefined {
  for (const line of passwd.split("\n")) {
    const fields = line.split(":");
    if (
      Number(fields[2]) === uid && fields[3] !== undefined &&
      /^\d+$/.test(fields[3])
    ) return Number(fields[3]);
  }
  return undefined;
}

export function resources(
  request: ContainerRequest,
  host: HostFacts,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    devices: [{ allow: false, access: "rwm" }],
  };
  if (request.cpu !== undefined && request.cpu > 0) {
    out.cpu = {
      quota: Math.max(1000, Math.round(request.cpu * CPU_PERIOD_US)),
      period: CPU_PERIOD_US,
      shares: Math.max(2, Math.round(request.cpu * 1024)),
    };
  }
  if (request.memoryBytes !== undefined && request.memoryBytes > 0) {
    // Limit + swap equal: no swap on top of the declared memory.
    out.memory = host.cgroupVersion === 2 || host.swapAccounting
      ? { limit: request.memoryBytes, swap: request.memoryBytes }
      : { limit: request.memoryBytes };
  }
  return out;
}

function defaultMounts(): Record<string, unknown>[] {
  return [
    {
      destination: "/proc",
      type: "proc",
      source: "proc",
      options: ["nosuid", "noexec", "nodev"],
    },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: [
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
        "gid=5",
      ],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    {
      destination: "/dev/mqueue",
      type: "mqueue",
      source: "mqueue",
      options: ["nosuid", "noexec", "nodev"],
    },
    {
      destination: "/sys",
      type: "sysfs",
      source: "sysfs",
      options: ["nosuid", "noexec", "nodev", "ro"],
    },
    {
      destination: "/run",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
  ];
}

/** runc wants absolute paths: a relative one would be the bundle's. */
function checkNetwork(
  containerId: string,
  network: ContainerNetworkAttachment,
): void {
  const paths = [
    network.netnsPath,
    network.resolvConfPath,
    network.hostsPath,
  ].filter((p) => p !== undefined);
  for (const path of paths) {
    if (!path.startsWith("/") || path.split("/").includes("..")) {
      throw new ContainerdError(
        "container.start_failed",
        `Container "${containerId}" has network path ${
          JSON.stringify(path)
        }; network paths must be absolute, without ".."`,
      );
    }
  }
}

/** The whole runtime spec, as containerd stores it (JSON in an Any). */
export function buildSpec(
  request: ContainerRequest,
  image: ImageConfig,
  host: HostFacts,
  accounts?: Accounts,
): Record<string, unknown> {
  const mounts = defaultMounts();
  const network = request.network;
  if (network !== undefined) checkNetwork(request.id, network);
  const nameFiles: [string, string][] = network === undefined
    ? host.hostFiles.map((path) => [path, path])
    : [
      ...(network.resolvConfPath === undefined
        ? []
        : [[network.resolvConfPath, "/etc/resolv.conf"] as [string, string]]),
      ...(network.hostsPath === undefined
        ? []
        : [[network.hostsPath, "/etc/hosts"] as [string, string]]),
    ];
  for (const [source, destination] of nameFiles) {
    mounts.push({
      destination,
      type: "bind",
      source,
      options: ["rbind", "ro"],
    });
  }
  for (const m of request.mounts ?? []) {
    mounts.push({
      destination: m.containerPath,
      type: "bind",
      source: m.hostPath,
      options: [
        "rbind",
        m.readonly === true ? "ro" : "rw",
        ...(m.ownedByUser === true ? ["nosuid", "nodev"] : []),
      ],
    });
  }
  let args = processArgs(request, image);
  const secretEnv = request.secretEnv;
  if (secretEnv !== undefined && hasSecretEnv(request)) {
    mounts.push({
      destination: SECRET_ENV_EXEC_PATH,
      type: "bind",
      source: secretEnv.execPath,
      options: ["bind", "ro", "nosuid", "nodev"],
    }, {
      destination: SECRET_ENV_FILE_PATH,
      type: "bind",
      source: secretEnv.filePath,
      options: ["bind", "ro", "nosuid", "nodev", "noexec"],
    });
    args = [SECRET_ENV_EXEC_PATH, SECRET_ENV_FILE_PATH, ...args];
  }
  const capabilities = [...DEFAULT_CAPABILITIES];
  return {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: false,
      user: processUser(request, image, accounts),
      args,
      env: processEnv(request, image),
      cwd: request.workingDir ?? (image.workingDir || "/"),
      capabilities: {
        bounding: capabilities,
        effective: capabilities,
        permitted: capabilities,
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs" },
    hostname: host.hostname,
    mounts,
    linux: {
      resources: resources(request, host),
      cgroupsPath: `${host.cgroupParent}/${request.id}`,
      // Without a network namespace: host networking.
      namespaces: [
        { type: "pid" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        ...(network === undefined
          ? []
          : [{ type: "network", path: network.netnsPath }]),
      ],
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}

/** Reads the host's cgroup version and swap accounting. */
export function detectHostFacts(cgroupParent = "/mill"): HostFacts {
  let cgroupVersion: 1 | 2 = 1;
  let swapAccounting = false;
  try {
    Deno.statSync("/sys/fs/cgroup/cgroup.controllers");
    cgroupVersion = 2;
  } catch {
    // No unified hierarchy at the root: cgroup v1.
  }
  if (cgroupVersion === 1) {
    try {
      Deno.statSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
      swapAccounting = true;
    } catch {
      // Swap accounting off (the kernel's default): no memsw limit to set.
    }
  }
  return {
    cgroupVersion,
    swapAccounting,
    cgroupParent,
    hostname: Deno.hostname(),
    hostFiles: ["/etc/hosts", "/etc/resolv.conf"].filter((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    }),
  };
}
