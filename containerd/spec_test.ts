import { assertEquals, assertThrows, assertTrue } from "./_assert_test.ts";
import {
  buildSpec,
  encodeSecretEnv,
  type HostFacts,
  processArgs,
  processEnv,
  processUser,
  resources,
  SECRET_ENV_EXEC_PATH,
  SECRET_ENV_FILE_PATH,
} from "./spec.ts";
import { ContainerdError } from "./errors.ts";
import type { ImageConfig } from "./oci.ts";

const IMAGE: ImageConfig = {
  architecture: "amd64",
  os: "linux",
  entrypoint: ["/entry"],
  cmd: ["--default"],
  env: ["PATH=/bin", "A=image"],
  workingDir: "/app",
  user: "",
  diffIds: [],
};
const HOST: HostFacts = {
  cgroupVersion: 1,
  swapAccounting: false,
  cgroupParent: "/mill",
  hostname: "h",
  hostFiles: [],
};

Deno.test("processArgs() merges command and args with the image like docker", async (t) => {
  const cases: [string, { command?: string[]; args?: string[] }, string[]][] = [
    ["image defaults", {}, ["/entry", "--default"]],
    ["args replace cmd", { args: ["x"] }, ["/entry", "x"]],
    ["command replaces entrypoint and drops cmd", { command: ["/other"] }, [
      "/other",
    ]],
    ["command and args", { command: ["/other"], args: ["y"] }, ["/other", "y"]],
  ];
  for (const [name, request, expected] of cases) {
    await t.step(
      name,
      () =>
        assertEquals(
          processArgs({ id: "c", image: "i", ...request }, IMAGE),
          expected,
        ),
    );
  }
  await t.step("no command anywhere is image.no_command", () => {
    const error = assertThrows(
      () =>
        processArgs({ id: "c", image: "reg/x:1" }, {
          ...IMAGE,
          entrypoint: [],
          cmd: [],
        }),
      ContainerdError,
    );
    assertEquals(error.code, "image.no_command");
    assertTrue(error.message.includes('"reg/x:1"'));
  });
});

Deno.test("processEnv() lets mill's env override the image's", () => {
  assertEquals(
    processEnv({ id: "c", image: "i", env: { A: "mill", B: "2" } }, IMAGE),
    ["PATH=/bin", "A=mill", "B=2"],
  );
});

Deno.test("resources() turns cpu and memory into cgroup limits", async (t) => {
  await t.step("cpu quota and shares", () => {
    const r = resources({ id: "c", image: "i", cpu: 0.5 }, HOST);
    assertEquals(r.cpu, { quota: 50_000, period: 100_000, shares: 512 });
  });
  await t.step(
    "memory without swap accounting",
    () =>
      assertEquals(
        resources({ id: "c", image: "i", memoryBytes: 1024 }, HOST).memory,
        { limit: 1024 },
      ),
  );
  await t.step(
    "memory with swap accounting or cgroup v2",
    () =>
      assertEquals(
        resources({ id: "c", image: "i", memoryBytes: 1024 }, {
          ...HOST,
          cgroupVersion: 2,
        }).memory,
        {
          limit: 1024,
          swap: 1024,
        },
      ),
  );
});

Deno.test("buildSpec() uses host networking, default mounts, masks and the volumes", () => {
  const spec = buildSpec(
    {
      id: "web",
      image: "i",
      mounts: [{ hostPath: "/srv/v", containerPath: "/data" }],
    },
    IMAGE,
    HOST,
  ) as {
    linux: {
      namespaces: { type: string }[];
      cgroupsPath: string;
      maskedPaths: string[];
    };
    mounts: { destination: string; options: string[] }[];
    process: { cwd: string };
  };
  assertEquals(spec.linux.namespaces.map((n) => n.type), [
    "pid",
    "ipc",
    "uts",
    "mount",
  ]);
  assertEquals(spec.linux.cgroupsPath, "/mill/web");
  assertTrue(spec.linux.maskedPaths.includes("/proc/kcore"));
  assertTrue(
    ["/proc", "/dev", "/sys", "/dev/shm"].every((d) =>
      spec.mounts.some((m) => m.destination === d)
    ),
  );
  assertEquals(spec.mounts.find((m) => m.destination === "/data")?.options, [
    "rbind",
    "rw",
  ]);
  assertEquals(spec.process.cwd, "/app");
});

Deno.test("buildSpec() keeps secret env out of the spec and starts through env-exec", () => {
  const secretEnv = {
    values: { A: "pg://u:hunter2@db", DB: "t0k3n-hunter2" },
    execPath: "/var/lib/mill/secrets/env-exec",
    filePath: "/var/lib/mill/secrets/web.env",
  };
  const spec = buildSpec(
    { id: "web", image: "i", env: { MODE: "prod" }, secretEnv },
    IMAGE,
    HOST,
  ) as {
    mounts: {
      destination: string;
      type: string;
      source: string;
      options: string[];
    }[];
    process: { args: string[]; env: string[] };
  };
  assertTrue(!JSON.stringify(spec).includes("hunter2"));
  // The image's A is left out too: env-exec sets it.
  assertEquals(spec.process.env, ["PATH=/bin", "MODE=prod"]);
  assertEquals(spec.process.args, [
    SECRET_ENV_EXEC_PATH,
    SECRET_ENV_FILE_PATH,
    "/entry",
    "--default",
  ]);
  assertEquals(
    spec.mounts.filter((m) => m.destination.startsWith("/run/mill/")),
    [{
      destination: SECRET_ENV_EXEC_PATH,
      type: "bind",
      source: secretEnv.execPath,
      options: ["bind", "ro", "nosuid", "nodev"],
    }, {
      destination: SECRET_ENV_FILE_PATH,
      type: "bind",
      source: secretEnv.filePath,
      options: ["bind", "ro", "nosuid", "nodev", "noexec"],
    }],
  );
  const plain = buildSpec(
    { id: "web", image: "i", secretEnv: { ...secretEnv, values: {} } },
    IMAGE,
    HOST,
  ) as { process: { args: string[] } };
  assertEquals(plain.process.args, ["/entry", "--default"]);
});

Deno.test("encodeSecretEnv() writes NUL-ended entries and refuses what env cannot carry", async (t) => {
  await t.step("entries", () => {
    assertEquals(
      new TextDecoder().decode(
        encodeSecretEnv("web", { A: "x=y", B: "", C: "é\nline" }),
      ),
      "A=x=y\0B=\0C=é\nline\0",
    );
  });
  const bad: [string, Record<string, string>][] = [
    ["a NUL in a value", { DB: "hunter2\0tail" }],
    ["an = in a name", { "A=B": "hunter2" }],
    ["an empty name", { "": "hunter2" }],
  ];
  for (const [name, values] of bad) {
    await t.step(name, () => {
      const error = assertThrows(
        () => encodeSecretEnv("web", values),
        ContainerdError,
      );
      assertEquals(error.code, "container.start_failed");
      assertTrue(!error.message.includes("hunter2"));
    });
  }
});

Deno.test("processUser() resolves names from the image's passwd and group files", async (t) => {
  const accounts = {
    passwd: "root:x:0:0::/:/bin/sh\nweb:x:1000:1001::/:/bin/sh\n",
    group: "root:x:0:\nstaff:x:50:\n",
  };
  const cases: [string, { uid: number; gid: number }][] = [
    ["", { uid: 0, gid: 0 }],
    ["root", { uid: 0, gid: 0 }],
    ["web", { uid: 1000, gid: 1001 }],
    ["web:staff", { uid: 1000, gid: 50 }],
    ["1000", { uid: 1000, gid: 1001 }],
    ["7:8", { uid: 7, gid: 8 }],
    ["7", { uid: 7, gid: 7 }],
  ];
  for (const [user, expected] of cases) {
    await t.step(
      JSON.stringify(user),
      () =>
        assertEquals(
          processUser({ id: "c", image: "i", user }, IMAGE, accounts),
          expected,
        ),
    );
  }
  for (const user of ["ghost", "web:nogroup"]) {
    await t.step(`${user} is container.user_unknown`, () => {
      const error = assertThrows(
        () => processUser({ id: "c", image: "i", user }, IMAGE, accounts),
        ContainerdError,
      );
      assertEquals(error.code, "container.user_unknown");
    });
  }
});

Deno.test("buildSpec() joins the alloc's network namespace and mounts its resolv.conf and hosts", async (t) => {
  type Spec = {
    linux: { namespaces: { type: string; path?: string }[] };
    mounts: { destination: string; source: string; options: string[] }[];
  };
  const host = { ...HOST, hostFiles: ["/etc/hosts", "/etc/resolv.conf"] };
  await t.step(
    "without a network: host networking and the host's files",
    () => {
      const spec = buildSpec({ id: "web", image: "i" }, IMAGE, host) as Spec;
      assertTrue(!spec.linux.namespaces.some((n) => n.type === "network"));
      assertEquals(
        spec.mounts.filter((m) => m.destination.startsWith("/etc/")).map((
          m,
        ) => [m.source, m.destination]),
        [["/etc/hosts", "/etc/hosts"], [
          "/etc/resolv.conf",
          "/etc/resolv.conf",
        ]],
      );
    },
  );
  await t.step("with one: its namespace and files, read-only", () => {
    const spec = buildSpec(
      {
        id: "web",
        image: "i",
        network: {
          netnsPath: "/run/netns/mill-a-web-1",
          resolvConfPath: "/var/lib/mill/net/web-1/resolv.conf",
          hostsPath: "/var/lib/mill/net/web-1/hosts",
        },
      },
      IMAGE,
      host,
    ) as Spec;
    assertEquals(
      spec.linux.namespaces.filter((n) => n.type === "network"),
      [{ type: "network", path: "/run/netns/mill-a-web-1" }],
    );
    assertEquals(spec.linux.namespaces.length, 5);
    assertEquals(
      spec.mounts.filter((m) => m.destination.startsWith("/etc/")),
      [
        {
          destination: "/etc/resolv.conf",
          type: "bind",
          source: "/var/lib/mill/net/web-1/resolv.conf",
          options: ["rbind", "ro"],
        },
        {
          destination: "/etc/hosts",
          type: "bind",
          source: "/var/lib/mill/net/web-1/hosts",
          options: ["rbind", "ro"],
        },
      ] as unknown as Spec["mounts"],
    );
  });
  await t.step(
    "the host's files never leak in, even without files of its own",
    () => {
      const spec = buildSpec(
        { id: "web", image: "i", network: { netnsPath: "/run/netns/x" } },
        IMAGE,
        host,
      ) as Spec;
      assertTrue(!spec.mounts.some((m) => m.destination.startsWith("/etc/")));
    },
  );
  await t.step("relative or climbing paths are refused", () => {
    for (
      const network of [
        { netnsPath: "run/netns/x" },
        { netnsPath: "/run/netns/../../proc/1/ns/net" },
        { netnsPath: "/run/netns/x", resolvConfPath: "resolv.conf" },
        { netnsPath: "/run/netns/x", hostsPath: "../hosts" },
      ]
    ) {
      const error = assertThrows(
        () => buildSpec({ id: "web", image: "i", network }, IMAGE, host),
        ContainerdError,
      );
      assertTrue(error.message.includes("network paths must be absolute"));
    }
  });
});
