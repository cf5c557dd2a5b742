/**
 * `scripts/install.sh` as `curl … | sh` runs it (the script on stdin), against
 * a local HTTP server serving stand-in artifacts, into a throwaway root
 * (`--root`, enabled with `systemctl --root`): an install, a rerun that
 * changes nothing, an upgrade in place, and each refusal leaving the root and
 * the temporary directory as they were.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";

const SCRIPT = new URL("../../scripts/install.sh", import.meta.url).pathname;
const NOBODY = 65534;
const IS_ROOT = Deno.uid() === 0;
const SYSTEM_PATH =
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---------------------------------------------------------------------------
// The artifact server

interface Artifact {
  readonly bytes: Uint8Array;
  readonly sha256: string;
}

/** A stand-in mill binary: a shell script that prints its version. */
async function artifact(version: string): Promise<Artifact> {
  const bytes = new TextEncoder().encode(
    `#!/bin/sh\necho "mill ${version}"\n`,
  );
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  const sha256 = [...new Uint8Array(digest)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  return { bytes, sha256 };
}

/** The `.sha256` file as sha256sum writes it. */
function checksumFile(sha256: string, name: string): Uint8Array {
  return new TextEncoder().encode(`${sha256}  ${name}\n`);
}

interface ArtifactServer {
  readonly url: string;
  /** Path → body; anything else is a 404. Changed by the tests as they go. */
  readonly files: Map<string, Uint8Array>;
  /** The paths asked for, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

function serveArtifacts(): ArtifactServer {
  const files = new Map<string, Uint8Array>();
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      requests.push(path);
      const body = request.method === "GET" ? files.get(path) : undefined;
      if (body === undefined) {
        return new Response("not found\n", { status: 404 });
      }
      return new Response(body.slice(), {
        headers: { "content-type": "application/octet-stream" },
      });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    files,
    requests,
    close: () => server.shutdown(),
  };
}

/** Serves `artifact` (and its checksum) for `arch` under `/release`. */
function publish(server: ArtifactServer, arch: string, art: Artifact) {
  const name = `mill-linux-${arch}`;
  server.files.set(`/release/${name}`, art.bytes);
  server.files.set(`/release/${name}.sha256`, checksumFile(art.sha256, name));
}

// ---------------------------------------------------------------------------
// Running the installer

interface Run {
  readonly code: number;
  readonly out: string;
}

interface RunOptions {
  readonly env?: Record<string, string>;
  readonly path?: string;
  /** Run as this uid and gid (nobody), without supplementary groups. */
  readonly uid?: number;
  /** A command the shell runs under, e.g. a chroot. */
  readonly wrap?: string[];
}

/** A fresh environment (no MILL_* of the caller's), the script on stdin. */
async function install(
  tmp: string,
  args: string[],
  options: RunOptions = {},
): Promise<Run> {
  const sh = [...options.wrap ?? [], "/bin/sh", "-s", "--", ...args];
  const command = options.uid === undefined ? sh : [
    "setpriv",
    `--reuid=${options.uid}`,
    `--regid=${options.uid}`,
    "--clear-groups",
    ...sh,
  ];
  const child = new Deno.Command(command[0]!, {
    args: command.slice(1),
    clearEnv: true,
    env: { PATH: options.path ?? SYSTEM_PATH, TMPDIR: tmp, ...options.env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(await Deno.readFile(SCRIPT));
  await writer.close();
  const result = await child.output();
  const text = new TextDecoder();
  return {
    code: result.code,
    out: text.decode(result.stdout) + text.decode(result.stderr),
  };
}

/** Every path under `dir`, relative, sorted: what a refusal must not change. */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${dir}${prefix}`)) {
    const path = `${prefix}/${entry.name}`;
    names.push(path);
    if (entry.isDirectory) names.push(...await tree(dir, path));
  }
  return names.sort();
}

interface Bed {
  readonly server: ArtifactServer;
  /** The throwaway root filesystem. */
  readonly root: string;
  /** The installer's TMPDIR: empty again after every run. */
  readonly tmp: string;
  readonly base: string;
}

/** A server, a root and a TMPDIR, all removed after `body`, even on failure. */
async function withBed(body: (bed: Bed) => Promise<void>): Promise<void> {
  const server = serveArtifacts();
  const dirs: string[] = [];
  try {
    const root = await Deno.makeTempDir({ prefix: "mill-install-root-" });
    dirs.push(root);
    const tmp = await Deno.makeTempDir({ prefix: "mill-install-tmp-" });
    dirs.push(tmp);
    await Deno.chmod(tmp, 0o1777);
    await body({ server, root, tmp, base: `${server.url}/release` });
    assertEquals(await tree(tmp), [], "the installer left temporary files");
  } finally {
    await server.close();
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
}

async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o7777;
}

/** The unit's directives by section, e.g. `Service` → `["Restart=always", …]`. */
function unitSections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = [];
      sections.set(header[1]!, current);
    } else current.push(line);
  }
  return sections;
}

// ---------------------------------------------------------------------------
// Installs and upgrades

Deno.test("install.sh installs the binary, the unit and the data dir; a rerun changes nothing; a new release upgrades in place", async () => {
  await withBed(async ({ server, root, tmp, base }) => {
    const v1 = await artifact("1.0.0");
    publish(server, "x86_64", v1);
    const args = ["--root", root, "--base-url", base];

    const first = await install(tmp, args);
    assertEquals(first.code, 0, first.out);
    const bin = `${root}/usr/local/bin/mill`;
    assertEquals(await Deno.readFile(bin), v1.bytes);
    assertEquals(await mode(bin), 0o755);
    const ran = await new Deno.Command(bin, { stdout: "piped" }).output();
    assertEquals(new TextDecoder().decode(ran.stdout), "mill 1.0.0\n");
    assertEquals(await mode(`${root}/var/lib/mill`), 0o700);

    const unitPath = `${root}/etc/systemd/system/mill.service`;
    assertEquals(await mode(unitPath), 0o644);
    const unit = unitSections(await Deno.readTextFile(unitPath));
    for (
      const line of [
        "After=network-online.target containerd.service",
        "Wants=network-online.target",
      ]
    ) assertTrue(unit.get("Unit")?.includes(line), `[Unit] lacks ${line}`);
    for (
      const line of [
        "EnvironmentFile=-/etc/mill/agent.env",
        "ExecStart=/usr/local/bin/mill agent --data-dir /var/lib/mill $MILL_AGENT_ARGS",
        "Restart=always",
        "KillMode=process",
        "LimitNOFILE=1048576",
      ]
    ) {
      assertTrue(
        unit.get("Service")?.includes(line),
        `[Service] lacks ${line}`,
      );
    }
    assertEquals(unit.get("Install"), ["WantedBy=multi-user.target"]);
    assertEquals(
      await Deno.readLink(
        `${root}/etc/systemd/system/multi-user.target.wants/mill.service`,
      ),
      "/etc/systemd/system/mill.service",
    );
    const envFile = `${root}/etc/mill/agent.env`;
    assertEquals(await mode(envFile), 0o600);
    assertTrue(
      (await Deno.readTextFile(envFile)).split("\n").includes(
        "MILL_AGENT_ARGS=",
      ),
    );
    assertTrue(first.out.includes("the agent is not started"), first.out);

    // The same release again: the binary is not even downloaded.
    const before = await tree(root);
    const inode = (await Deno.stat(bin)).ino;
    server.requests.length = 0;
    const second = await install(tmp, args);
    assertEquals(second.code, 0, second.out);
    assertTrue(second.out.includes("is up to date"), second.out);
    assertTrue(second.out.includes("nothing changed"), second.out);
    assertEquals(server.requests, ["/release/mill-linux-x86_64.sha256"]);
    assertEquals((await Deno.stat(bin)).ino, inode);
    assertEquals(await tree(root), before);

    // A new release replaces the file by a rename: a new inode at the path.
    const v2 = await artifact("2.0.0");
    publish(server, "x86_64", v2);
    const third = await install(tmp, args);
    assertEquals(third.code, 0, third.out);
    assertTrue(third.out.includes("changed: binary"), third.out);
    assertEquals(await Deno.readFile(bin), v2.bytes);
    assertEquals(await mode(bin), 0o755);
    assertTrue((await Deno.stat(bin)).ino !== inode, "replaced by a rename");
    assertEquals(await tree(root), before, "no file added or left behind");
  });
});

Deno.test("install.sh takes its settings from the environment too, and --agent-args rewrites only agent.env", async () => {
  await withBed(async ({ server, root, tmp, base }) => {
    publish(server, "x86_64", await artifact("1.0.0"));
    const env = { MILL_BASE_URL: base, MILL_INSTALL_ROOT: root };
    const envFile = `${root}/etc/mill/agent.env`;
    const agentArgs = (text: string) =>
      text.split("\n").filter((line) => line.startsWith("MILL_AGENT_ARGS="));

    const first = await install(tmp, [
      "--agent-args",
      "--listen 10.0.0.5:7946 --role secondary",
    ], { env });
    assertEquals(first.code, 0, first.out);
    assertEquals(agentArgs(await Deno.readTextFile(envFile)), [
      "MILL_AGENT_ARGS=--listen 10.0.0.5:7946 --role secondary",
    ]);

    // An operator's edit survives a rerun without --agent-args.
    const edited = "MILL_AGENT_ARGS=--listen 10.0.0.5:7946\n";
    await Deno.writeTextFile(envFile, edited);
    const rerun = await install(tmp, [], { env });
    assertEquals(rerun.code, 0, rerun.out);
    assertTrue(rerun.out.includes("nothing changed"), rerun.out);
    assertEquals(await Deno.readTextFile(envFile), edited);

    const changed = await install(tmp, [], {
      env: { ...env, MILL_AGENT_ARGS: "--listen 10.0.0.6:7946" },
    });
    assertEquals(changed.code, 0, changed.out);
    assertTrue(changed.out.includes("changed: agent.env"), changed.out);
    assertEquals(agentArgs(await Deno.readTextFile(envFile)), [
      "MILL_AGENT_ARGS=--listen 10.0.0.6:7946",
    ]);
    assertEquals(await mode(envFile), 0o600);

    const quoted = await install(tmp, ["--agent-args", '--name "a b"'], {
      env,
    });
    assertTrue(quoted.code !== 0, quoted.out);
    assertTrue(quoted.out.includes("plain space-separated list"), quoted.out);
    assertEquals(agentArgs(await Deno.readTextFile(envFile)), [
      "MILL_AGENT_ARGS=--listen 10.0.0.6:7946",
    ]);
  });
});

/** A bin dir whose `uname -m` answers `machine`, first in PATH. */
async function unameSaying(tmp: string, machine: string): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: tmp, prefix: "uname-" });
  await Deno.writeTextFile(
    `${dir}/uname`,
    `#!/bin/sh\nif [ "$1" = -m ]; then echo ${machine}; else echo Linux; fi\n`,
    { mode: 0o755 },
  );
  return dir;
}

for (const machine of ["aarch64", "arm64"]) {
  Deno.test(`install.sh installs the aarch64 build on an ${machine} machine`, async () => {
    await withBed(async ({ server, root, tmp, base }) => {
      const x86 = await artifact("1.0.0 x86_64");
      const arm = await artifact("1.0.0 aarch64");
      publish(server, "x86_64", x86);
      publish(server, "aarch64", arm);
      const stub = await unameSaying(tmp, machine);
      try {
        const run = await install(tmp, ["--root", root, "--base-url", base], {
          path: `${stub}:${SYSTEM_PATH}`,
        });
        assertEquals(run.code, 0, run.out);
        assertEquals(
          await Deno.readFile(`${root}/usr/local/bin/mill`),
          arm.bytes,
        );
      } finally {
        await Deno.remove(stub, { recursive: true });
      }
    });
  });
}

/**
 * Runs its arguments chrooted into `root` inside a private mount namespace:
 * the host's system directories bound read-only, `/usr/local/bin` bound to
 * `bin` (a directory of the test's), `/dev` for /dev/null; `/etc`, `/var` and
 * `/tmp` are the root's own. The installer then writes the system's paths
 * themselves, as on a real node. The mounts end with the namespace.
 */
const CHROOT = `set -e
root="$1"
bin="$2"
shift 2
for dir in bin sbin lib lib32 lib64 libx32 usr; do
  if [ -L "/$dir" ]; then
    [ -L "$root/$dir" ] || ln -s "$(readlink "/$dir")" "$root/$dir"
  elif [ -d "/$dir" ]; then
    mkdir -p "$root/$dir"
    mount --bind "/$dir" "$root/$dir"
    mount -o remount,bind,ro "$root/$dir"
  fi
done
mount --bind "$bin" "$root/usr/local/bin"
mkdir -p "$root/dev" "$root/tmp"
chmod 1777 "$root/tmp"
mount --bind /dev "$root/dev"
exec chroot "$root" "$@"
`;

Deno.test({
  name:
    "install.sh as root in a chroot installs to the system's own paths and enables the unit offline when systemd is not running",
  ignore: !IS_ROOT,
  fn: async () => {
    await withBed(async ({ server, root, tmp, base }) => {
      const bin = await Deno.makeTempDir({ prefix: "mill-install-bin-" });
      try {
        const v1 = await artifact("1.0.0");
        publish(server, "x86_64", v1);
        const options = {
          env: { TMPDIR: "/tmp" },
          wrap: [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            CHROOT,
            "chroot",
            root,
            bin,
          ],
        };
        const first = await install(tmp, ["--base-url", base], options);
        assertEquals(first.code, 0, first.out);
        assertTrue(first.out.includes("systemd is not running"), first.out);
        assertEquals(await Deno.readFile(`${bin}/mill`), v1.bytes);
        assertEquals(await mode(`${bin}/mill`), 0o755);
        assertEquals(await mode(`${root}/var/lib/mill`), 0o700);
        assertTrue(
          (await Deno.readTextFile(`${root}/etc/systemd/system/mill.service`))
            .includes("KillMode=process"),
        );
        assertEquals(
          await Deno.readLink(
            `${root}/etc/systemd/system/multi-user.target.wants/mill.service`,
          ),
          "/etc/systemd/system/mill.service",
        );
        assertEquals(await tree(`${root}/tmp`), []);

        const second = await install(tmp, ["--base-url", base], options);
        assertEquals(second.code, 0, second.out);
        assertTrue(second.out.includes("nothing changed"), second.out);

        const v2 = await artifact("2.0.0");
        publish(server, "x86_64", v2);
        const third = await install(tmp, ["--base-url", base], options);
        assertEquals(third.code, 0, third.out);
        assertEquals(await Deno.readFile(`${bin}/mill`), v2.bytes);
        assertEquals(await tree(bin), ["/mill"]);
        assertEquals(await tree(`${root}/tmp`), []);
      } finally {
        await Deno.remove(bin, { recursive: true });
      }
    });
  },
});

// ---------------------------------------------------------------------------
// Refusals: a clear message, a non-zero exit, nothing changed

async function assertRefused(
  bed: Bed,
  run: Run,
  message: string | RegExp,
  rootBefore: string[] = [],
) {
  assertTrue(run.code !== 0, `expected a refusal:\n${run.out}`);
  assertTrue(
    typeof message === "string"
      ? run.out.includes(message)
      : message.test(run.out),
    `expected ${message} in:\n${run.out}`,
  );
  assertEquals(await tree(bed.root), rootBefore, "a refusal changed the root");
}

Deno.test("install.sh refuses a checksum mismatch, says expected and got, and installs nothing", async () => {
  await withBed(async (bed) => {
    const good = await artifact("1.0.0");
    const other = await artifact("tampered");
    publish(bed.server, "x86_64", good);
    bed.server.files.set("/release/mill-linux-x86_64", other.bytes);
    const run = await install(bed.tmp, [
      "--root",
      bed.root,
      "--base-url",
      bed.base,
    ]);
    await assertRefused(
      bed,
      run,
      `expected ${good.sha256}, got ${other.sha256}; nothing installed`,
    );

    // Nor over an installed binary: the old one stays.
    bed.server.files.set("/release/mill-linux-x86_64", good.bytes);
    assertEquals(
      (await install(bed.tmp, ["--root", bed.root, "--base-url", bed.base]))
        .code,
      0,
    );
    const before = await tree(bed.root);
    publish(bed.server, "x86_64", await artifact("2.0.0"));
    bed.server.files.set("/release/mill-linux-x86_64", other.bytes);
    const upgrade = await install(bed.tmp, [
      "--root",
      bed.root,
      "--base-url",
      bed.base,
    ]);
    await assertRefused(bed, upgrade, "checksum mismatch", before);
    assertEquals(
      await Deno.readFile(`${bed.root}/usr/local/bin/mill`),
      good.bytes,
    );
  });
});

Deno.test("install.sh refuses an HTTP error, a checksum file that is not one and an empty download", async () => {
  await withBed(async (bed) => {
    const args = ["--root", bed.root, "--base-url", bed.base];
    const missing = await install(bed.tmp, args);
    await assertRefused(
      bed,
      missing,
      `could not download ${bed.base}/mill-linux-x86_64.sha256 (curl exit 22)`,
    );
    assertTrue(missing.out.includes("404"), missing.out);

    bed.server.files.set(
      "/release/mill-linux-x86_64.sha256",
      new TextEncoder().encode("<html>not found</html>\n"),
    );
    await assertRefused(
      bed,
      await install(bed.tmp, args),
      "mill-linux-x86_64.sha256 is not a sha256sum line",
    );

    const empty = await crypto.subtle.digest("SHA-256", new Uint8Array());
    const hex = [...new Uint8Array(empty)]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    bed.server.files.set(
      "/release/mill-linux-x86_64.sha256",
      checksumFile(hex, "mill-linux-x86_64"),
    );
    bed.server.files.set("/release/mill-linux-x86_64", new Uint8Array());
    await assertRefused(
      bed,
      await install(bed.tmp, args),
      `${bed.base}/mill-linux-x86_64 is empty or not a file`,
    );
  });
});

Deno.test("install.sh refuses an unsupported architecture by name before downloading", async () => {
  await withBed(async (bed) => {
    publish(bed.server, "x86_64", await artifact("1.0.0"));
    const stub = await unameSaying(bed.tmp, "riscv64");
    try {
      const run = await install(
        bed.tmp,
        ["--root", bed.root, "--base-url", bed.base],
        { path: `${stub}:${SYSTEM_PATH}` },
      );
      await assertRefused(bed, run, 'unsupported architecture "riscv64"');
      assertEquals(bed.server.requests, []);
    } finally {
      await Deno.remove(stub, { recursive: true });
    }
  });
});

/** The tools install.sh runs, besides the shell's builtins. */
const TOOLS = [
  "curl",
  "sha256sum",
  "uname",
  "id",
  "mktemp",
  "mkdir",
  "cp",
  "mv",
  "chmod",
  "rm",
  "cat",
  "systemctl",
];

/** A bin dir of links to TOOLS except `without`: the script's whole PATH. */
async function pathWithout(tmp: string, without?: string): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: tmp, prefix: "bin-" });
  for (const tool of TOOLS) {
    if (tool === without) continue;
    const which = await new Deno.Command("sh", {
      args: ["-c", `command -v ${tool}`],
      stdout: "piped",
    }).output();
    const found = new TextDecoder().decode(which.stdout).trim();
    assertTrue(found.startsWith("/"), `${tool} is not installed here`);
    await Deno.symlink(found, `${dir}/${tool}`);
  }
  return dir;
}

Deno.test("install.sh needs only its listed tools, and refuses a missing curl or sha256sum", async () => {
  await withBed(async (bed) => {
    publish(bed.server, "x86_64", await artifact("1.0.0"));
    const args = ["--root", bed.root, "--base-url", bed.base];
    const bins: string[] = [];
    try {
      for (const tool of ["curl", "sha256sum"]) {
        const bin = await pathWithout(bed.tmp, tool);
        bins.push(bin);
        const run = await install(bed.tmp, args, { path: bin });
        await assertRefused(bed, run, `${tool} is missing; install it first`);
      }
      assertEquals(bed.server.requests, []);

      // With every listed tool and nothing else, it installs.
      const all = await pathWithout(bed.tmp);
      bins.push(all);
      const run = await install(bed.tmp, args, { path: all });
      assertEquals(run.code, 0, run.out);
      assertTrue(
        (await tree(bed.root)).includes(
          "/etc/systemd/system/multi-user.target.wants/mill.service",
        ),
      );
    } finally {
      for (const bin of bins) await Deno.remove(bin, { recursive: true });
    }
  });
});

Deno.test({
  name:
    "install.sh refuses a non-root user, but installs into a --root that user can write",
  ignore: !IS_ROOT,
  fn: async () => {
    await withBed(async (bed) => {
      publish(bed.server, "x86_64", await artifact("1.0.0"));
      const nobody = { uid: NOBODY };

      const system = await install(bed.tmp, ["--base-url", bed.base], nobody);
      await assertRefused(bed, system, "run as root");

      // The bed's root belongs to root, mode 0755: nobody cannot write it.
      await Deno.chmod(bed.root, 0o755);
      const unwritable = await install(
        bed.tmp,
        ["--root", bed.root, "--base-url", bed.base],
        nobody,
      );
      await assertRefused(bed, unwritable, "is not writable by this user");
      assertEquals(bed.server.requests, []);

      await Deno.chown(bed.root, NOBODY, NOBODY);
      const own = await install(
        bed.tmp,
        ["--root", bed.root, "--base-url", bed.base],
        nobody,
      );
      assertEquals(own.code, 0, own.out);
      assertEquals(
        (await Deno.stat(`${bed.root}/usr/local/bin/mill`)).uid,
        NOBODY,
      );
    });
  },
});

Deno.test("install.sh builds the public release's URL from --version, else the latest", async () => {
  await withBed(async (bed) => {
    // A proxy nobody listens on: curl fails at once, after the script said
    // where it downloads from.
    const env = {
      HTTPS_PROXY: "http://127.0.0.1:1",
      https_proxy: "http://127.0.0.1:1",
    };
    const releases = "https://github.com/mill-orchestrator/mill/releases";
    const tagged = await install(bed.tmp, [
      "--root",
      bed.root,
      "--version",
      "v0.2.0",
    ], { env });
    await assertRefused(bed, tagged, `from ${releases}/download/v0.2.0\n`);
    const latest = await install(bed.tmp, ["--root", bed.root], { env });
    await assertRefused(bed, latest, `from ${releases}/latest/download\n`);
    const bad = await install(bed.tmp, [
      "--root",
      bed.root,
      "--version",
      "../x",
    ], { env });
    await assertRefused(bed, bad, "is not a release tag");
  });
});

Deno.test("install.sh passes shellcheck as POSIX sh", async () => {
  const has = async () =>
    (await new Deno.Command("sh", {
      args: ["-c", "command -v shellcheck"],
      stdout: "null",
    }).output()).success;
  if (!await has() && IS_ROOT) {
    const apt = (...args: string[]) =>
      new Deno.Command("apt-get", {
        args,
        env: { DEBIAN_FRONTEND: "noninteractive" },
        stdout: "null",
        stderr: "null",
      }).output();
    const pkg = [
      "install",
      "-y",
      "-qq",
      "--no-install-recommends",
      "shellcheck",
    ];
    if (!(await apt(...pkg)).success) {
      await apt("update", "-qq");
      await apt(...pkg);
    }
  }
  if (!await has()) {
    console.warn("shellcheck is not installed and could not be: check skipped");
    return;
  }
  const result = await new Deno.Command("shellcheck", {
    args: ["--shell=sh", "--severity=style", SCRIPT],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  assertEquals(
    result.code,
    0,
    text.decode(result.stdout) + text.decode(result.stderr),
  );
});
