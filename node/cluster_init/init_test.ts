import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import { readClusterKeyFile } from "../secrets/mod.ts";
import { readCliContextFile } from "./context.ts";
import { InitError } from "./errors.ts";
import {
  DATA_DIR_FILES,
  initCluster,
  type InitClusterOptions,
  loadClusterIdentity,
} from "./init.ts";
import { isSignedBy, readCertificate } from "./x509.ts";

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-init-" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function options(
  dir: string,
  extra: Partial<InitClusterOptions> = {},
): InitClusterOptions {
  return {
    dataDir: `${dir}/data`,
    nodeName: "node-1",
    apiAddresses: ["127.0.0.1", "node-1.example.com"],
    apiPort: 7443,
    contextPath: `${dir}/home/.mill/config.json`,
    nowMs: Date.now(),
    ...extra,
  };
}

function modeOf(info: Deno.FileInfo): number {
  return (info.mode ?? 0) & 0o777;
}

function isInitError(code: string) {
  return (err: unknown) => err instanceof InitError && err.code === code;
}

Deno.test("initCluster() writes every data dir file with its mode", async () => {
  await withDir(async (dir) => {
    const identity = await initCluster(options(dir));
    assertEquals(modeOf(await Deno.stat(`${dir}/data`)), 0o700);
    const found: string[] = [];
    for await (const entry of Deno.readDir(`${dir}/data`)) {
      found.push(entry.name);
    }
    assertEquals(
      found.sort(),
      Object.values(DATA_DIR_FILES).map((f) => f.name).sort(),
    );
    for (const file of Object.values(DATA_DIR_FILES)) {
      assertEquals(
        modeOf(await Deno.stat(`${dir}/data/${file.name}`)),
        file.mode,
        file.name,
      );
    }
    assertEquals((await Deno.readFile(`${dir}/data/cluster.key`)).length, 32);
    await readClusterKeyFile(identity.clusterKeyPath);
    assertEquals(await loadClusterIdentity(`${dir}/data`), identity);
  });
});

Deno.test("initCluster() makes distinct tokens and a CA that signed the API certificate", async () => {
  await withDir(async (dir) => {
    const identity = await initCluster(options(dir));
    const tokens = [identity.adminToken, identity.joinToken, identity.rpcToken];
    assertEquals(new Set(tokens).size, 3);
    const ca = await readCertificate(identity.caCertPem);
    const api = await readCertificate(identity.apiCertPem);
    assertEquals(ca.isCa, true);
    assertEquals(api.isCa, false);
    assertEquals(api.issuer, ca.subject);
    assertEquals(api.dnsNames, ["localhost", "node-1.example.com"]);
    assertEquals(api.ipAddresses, ["127.0.0.1", "::1"]);
    assertEquals(
      await isSignedBy(identity.apiCertPem, identity.caCertPem),
      true,
    );
    const other = await initCluster(
      options(dir, { dataDir: `${dir}/other`, contextPath: null }),
    );
    assertEquals(await isSignedBy(identity.apiCertPem, other.caCertPem), false);
  });
});

Deno.test("initCluster() saves the CLI context with mode 0600 and keeps other contexts", async () => {
  await withDir(async (dir) => {
    const contextPath = `${dir}/home/.mill/config.json`;
    await Deno.mkdir(`${dir}/home/.mill`, { recursive: true });
    const kept = {
      apiUrl: "https://10.0.0.9:7443",
      clusterId: "old",
      caCertPem: "x",
      token: "t",
    };
    await Deno.writeTextFile(
      contextPath,
      JSON.stringify({ format: 1, current: "prod", contexts: { prod: kept } }),
    );
    const identity = await initCluster(options(dir, { contextName: "local" }));
    assertEquals(modeOf(await Deno.stat(contextPath)), 0o600);
    assertEquals(modeOf(await Deno.stat(`${dir}/home/.mill`)), 0o700);
    assertEquals(await readCliContextFile(contextPath), {
      format: 1,
      current: "local",
      contexts: {
        prod: kept,
        local: {
          apiUrl: "https://127.0.0.1:7443",
          clusterId: identity.clusterId,
          caCertPem: identity.caCertPem,
          token: identity.adminToken,
        },
      },
    });
  });
});

Deno.test("initCluster() refuses a data dir that already holds a cluster, unchanged", async () => {
  await withDir(async (dir) => {
    const first = await initCluster(options(dir));
    await assertRejects(
      () => initCluster(options(dir)),
      isInitError("init.already_initialized"),
    );
    assertEquals(await loadClusterIdentity(`${dir}/data`), first);
  });
});

Deno.test("initCluster() refuses a data dir left half-written by an interrupted init", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/data`);
    await Deno.writeTextFile(`${dir}/data/admin.token`, "x");
    await assertRejects(() => initCluster(options(dir)), (err: unknown) => {
      return isInitError("init.partial_data_dir")(err) &&
        (err as Error).message.includes('"admin.token"');
    });
  });
});

Deno.test("initCluster() refuses a broken context file before writing anything", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/home/.mill`, { recursive: true });
    await Deno.writeTextFile(`${dir}/home/.mill/config.json`, "{not json");
    await assertRejects(
      () => initCluster(options(dir)),
      isInitError("init.invalid_context"),
    );
    await assertRejects(() => Deno.stat(`${dir}/data`), Deno.errors.NotFound);
  });
});

Deno.test("initCluster() refuses invalid options", async (t) => {
  await withDir(async (dir) => {
    const rows: [string, Partial<InitClusterOptions>][] = [
      ["an empty node name", { nodeName: "" }],
      ["a node name with a slash", { nodeName: "a/b" }],
      ["a node name with a comma (DN injection)", { nodeName: "a,O=evil" }],
      ["port 0", { apiPort: 0 }],
      ["port 70000", { apiPort: 70000 }],
      ["a fractional port", { apiPort: 80.5 }],
      ["an address with a space", { apiAddresses: ["bad host"] }],
      ["an address with a scheme", { apiAddresses: ["https://x"] }],
      ["an IPv4 out of range", { apiAddresses: ["300.1.1.1"] }],
      ["a broken IPv6", { apiAddresses: ["fd00:::1::2"] }],
      ["colons only", { apiAddresses: [":::"] }],
    ];
    for (const [name, extra] of rows) {
      await t.step(name, async () => {
        await assertRejects(
          () => initCluster(options(dir, extra)),
          isInitError("init.invalid_options"),
        );
      });
    }
    await assertRejects(() => Deno.stat(`${dir}/data`), Deno.errors.NotFound);
  });
});

Deno.test("loadClusterIdentity() refuses unsafe or missing files", async (t) => {
  await withDir(async (dir) => {
    await initCluster(options(dir, { contextPath: null }));
    const data = `${dir}/data`;
    await t.step("an admin token readable by others", async () => {
      await Deno.chmod(`${data}/admin.token`, 0o644);
      await assertRejects(
        () => loadClusterIdentity(data),
        isInitError("init.invalid_data_dir"),
      );
      await Deno.chmod(`${data}/admin.token`, 0o600);
    });
    await t.step("a cluster key readable by the group", async () => {
      await Deno.chmod(`${data}/cluster.key`, 0o640);
      await assertRejects(
        () => loadClusterIdentity(data),
        isInitError("init.invalid_data_dir"),
      );
      await Deno.chmod(`${data}/cluster.key`, 0o600);
    });
    await t.step("a malformed token", async () => {
      const token = await Deno.readTextFile(`${data}/join.token`);
      await Deno.writeTextFile(`${data}/join.token`, "short\n");
      await assertRejects(
        () => loadClusterIdentity(data),
        isInitError("init.invalid_data_dir"),
      );
      await Deno.writeTextFile(`${data}/join.token`, token);
    });
    await t.step("a corrupt cluster.json", async () => {
      const text = await Deno.readTextFile(`${data}/cluster.json`);
      await Deno.writeTextFile(`${data}/cluster.json`, '{"format":2}');
      await assertRejects(
        () => loadClusterIdentity(data),
        isInitError("init.invalid_data_dir"),
      );
      await Deno.writeTextFile(`${data}/cluster.json`, text);
    });
    await t.step("a missing CA certificate", async () => {
      await Deno.remove(`${data}/ca.crt`);
      await assertRejects(
        () => loadClusterIdentity(data),
        isInitError("init.invalid_data_dir"),
      );
    });
    await t.step("a missing data dir", async () => {
      await assertRejects(
        () => loadClusterIdentity(`${dir}/nowhere`),
        isInitError("init.invalid_data_dir"),
      );
    });
  });
});

Deno.test("initCluster() puts IPv6 and extra IPv4 addresses in the certificate and brackets IPv6 in the API URL", async () => {
  await withDir(async (dir) => {
    const identity = await initCluster(
      options(dir, { apiAddresses: ["fd00::1", "10.0.0.5"] }),
    );
    const api = await readCertificate(identity.apiCertPem);
    assertEquals(api.dnsNames, ["localhost"]);
    assertEquals(
      [...api.ipAddresses].sort(),
      ["10.0.0.5", "127.0.0.1", "::1", "fd00::1"].sort(),
    );
    const context = await readCliContextFile(`${dir}/home/.mill/config.json`);
    assertEquals(context.contexts.default?.apiUrl, "https://[fd00::1]:7443");
  });
});
