import { deepStrictEqual, match, ok } from "node:assert/strict";
import { bufferOutput, COMMANDS, EXIT, runCli } from "./mod.ts";
import { parseConfig } from "../config/mod.ts";
import { colorAllowed, paint } from "./output.ts";

const FIXTURES = new URL("../tests/fixtures/config/", import.meta.url).pathname;

async function run(...args: string[]) {
  const output = bufferOutput();
  const code = await runCli(args, output);
  return { code, stdout: output.stdout(), stderr: output.stderr() };
}

Deno.test("runCli() rejects an unknown command with exit code 2", async () => {
  const { code, stderr } = await run("no-such-command");
  deepStrictEqual(code, EXIT.usage);
  match(stderr, /unknown command 'no-such-command'/);
});

Deno.test("runCli() with no command prints the help and exits 2", async () => {
  const { code, stderr } = await run();
  deepStrictEqual(code, EXIT.usage);
  match(stderr, /Usage: mill/);
});

Deno.test("mill version prints the version, as text and as JSON", async () => {
  const text = await run("version");
  deepStrictEqual(text.code, EXIT.ok);
  match(text.stdout, /^mill 0\.1\.0 \(deno /);
  const json = await run("version", "--json");
  deepStrictEqual(JSON.parse(json.stdout).mill, "0.1.0");
});

Deno.test("every command and subcommand answers --help with exit 0", async (t) => {
  const paths = COMMANDS.flatMap((c) => [
    [c.name],
    ...(c.subcommands ?? []).map((s) => [c.name, s.name]),
  ]);
  for (
    const name of [
      "init",
      "up",
      "agent",
      "join",
      "deploy",
      "status",
      "nodes",
      "ps",
      "logs",
    ]
  ) {
    ok(paths.some((p) => p[0] === name), `${name} is not registered`);
  }
  for (const path of paths) {
    await t.step(path.join(" "), async () => {
      const { code, stdout } = await run(...path, "--help");
      deepStrictEqual(code, EXIT.ok);
      match(stdout, new RegExp(`Usage: mill ${path.join(" ")}`));
    });
  }
});

Deno.test("cluster commands without a CLI context exit 3 and say how to get one", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "mill-cli-context-" });
  const previous = Deno.env.get("MILL_CONFIG");
  Deno.env.set("MILL_CONFIG", `${dir}/config.json`);
  try {
    const cases = [
      ["status"],
      ["nodes", "--json"],
      ["ps"],
      ["logs", "web"],
      ["secret", "list"],
      ["secret", "delete", "db.url"],
    ];
    for (const args of cases) {
      await t.step(args.join(" "), async () => {
        const { code, stdout, stderr } = await run(...args);
        deepStrictEqual(code, EXIT.unavailable);
        match(stdout + stderr, /cli\.no_context/);
        match(stdout + stderr, /mill up/);
      });
    }
  } finally {
    if (previous === undefined) Deno.env.delete("MILL_CONFIG");
    else Deno.env.set("MILL_CONFIG", previous);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mill join refuses a malformed token, a bad address and a primary without a fixed port", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mill-cli-join-" });
  try {
    const token = await run(
      "join",
      "127.0.0.1:1",
      "--token",
      "x",
      "--data-dir",
      dir,
    );
    deepStrictEqual(token.code, EXIT.usage);
    match(token.stderr, /join\.invalid_token/);
    const address = await run(
      "join",
      "nowhere",
      "--token",
      "x",
      "--data-dir",
      dir,
    );
    deepStrictEqual(address.code, EXIT.usage);
    const primary = await run(
      "join",
      "127.0.0.1:1",
      "--token",
      "x",
      "--role",
      "primary",
      "--listen",
      "127.0.0.1:0",
    );
    deepStrictEqual(primary.code, EXIT.usage);
    match(primary.stderr, /join\.invalid_token|fixed --listen/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mill secret set refuses a value on the command line", async () => {
  const { code, stderr } = await run("secret", "set", "db.url", "hunter2");
  deepStrictEqual(code, EXIT.usage);
  match(stderr, /--from-file/);
  ok(!stderr.includes("hunter2"));
});

Deno.test("mill init creates a cluster and a context, and refuses to do it twice", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mill-cli-init-" });
  const previous = Deno.env.get("MILL_CONFIG");
  Deno.env.set("MILL_CONFIG", `${dir}/config.json`);
  try {
    const first = await run(
      "init",
      "--data-dir",
      `${dir}/data`,
      "--name",
      "n1",
      "--json",
    );
    deepStrictEqual(first.code, EXIT.ok, first.stderr);
    const created = JSON.parse(first.stdout);
    match(created.start, /mill agent --data-dir/);
    const context = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    deepStrictEqual(context.contexts.default.clusterId, created.clusterId);
    const again = await run(
      "init",
      "--data-dir",
      `${dir}/data`,
      "--name",
      "n1",
    );
    deepStrictEqual(again.code, EXIT.failure);
    match(again.stderr, /init\.already_initialized/);
    const badPort = await run(
      "init",
      "--data-dir",
      `${dir}/x`,
      "--api-port",
      "0",
    );
    deepStrictEqual(badPort.code, EXIT.usage);
    const cluster = JSON.parse(
      await Deno.readTextFile(`${dir}/data/cluster.json`),
    );
    deepStrictEqual(cluster.clusterRange, "10.210.0.0/16");
    for (
      const [range, says] of [
        ["8.8.0.0/16", /not a private range/],
        ["10.210.1.0/16", /did you mean 10\.210\.0\.0\/16/],
        ["10.210.0.0/25", /smaller than one node subnet/],
      ] as const
    ) {
      const refused = await run(
        "init",
        "--data-dir",
        `${dir}/r`,
        "--cluster-range",
        range,
      );
      deepStrictEqual(refused.code, EXIT.usage, range);
      match(refused.stderr, says);
    }
    const chosen = await run(
      "init",
      "--data-dir",
      `${dir}/c`,
      "--cluster-range",
      "172.29.0.0/16",
      "--context",
      "other",
    );
    deepStrictEqual(chosen.code, EXIT.ok, chosen.stderr);
    deepStrictEqual(
      JSON.parse(await Deno.readTextFile(`${dir}/c/cluster.json`)).clusterRange,
      "172.29.0.0/16",
    );
  } finally {
    if (previous === undefined) Deno.env.delete("MILL_CONFIG");
    else Deno.env.set("MILL_CONFIG", previous);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mill agent refuses bad options with exit 2 and a missing cluster with exit 1", async () => {
  const bad = await run("agent", "--listen", "nowhere");
  deepStrictEqual(bad.code, EXIT.usage);
  match(bad.stderr, /HOST:PORT/);
  const role = await run("agent", "--role", "leader");
  deepStrictEqual(role.code, EXIT.usage);
  const dir = await Deno.makeTempDir({ prefix: "mill-cli-agent-" });
  try {
    const missing = await run(
      "agent",
      "--data-dir",
      `${dir}/none`,
      "--listen",
      "127.0.0.1:0",
    );
    deepStrictEqual(missing.code, EXIT.failure);
    match(missing.stderr, /init\.invalid_data_dir|not usable/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mill deploy checks the config before anything else", async () => {
  const { code, stderr } = await run(
    "deploy",
    "-f",
    `${FIXTURES}invalid/rules.mill`,
  );
  deepStrictEqual(code, EXIT.usage);
  match(stderr, /rules\.mill:4:27: error\[config\.out_of_range\]/);
});

Deno.test("mill validate summarises a valid file", async () => {
  const { code, stdout } = await run("validate", "-f", `${FIXTURES}full.mill`);
  deepStrictEqual(code, EXIT.ok);
  match(stdout, /services {2}1 \(3 replicas\)/);
  match(stdout, /cpu {7}1\.5 cores reserved by services/);
  match(stdout, /memory {4}4\.5Gi reserved by services/);
  match(stdout, /app\.example\.com\/static → web/);
  match(stdout, /web-cache \(512Mi, ephemeral\) → service "web"/);
  match(stdout, /db\.url ← task "migrate"/);
});

Deno.test("mill validate --json prints the parsed model", async () => {
  const file = `${FIXTURES}seed_002_first_deploy.mill`;
  const { code, stdout } = await run("validate", "-f", file, "--json");
  deepStrictEqual(code, EXIT.ok);
  const parsed = parseConfig(Deno.readTextFileSync(file), file);
  ok(parsed.ok);
  deepStrictEqual(JSON.parse(stdout), parsed.config);
});

Deno.test("mill validate reports every error with its position and exits 2", async () => {
  const file = `${FIXTURES}invalid/rules.mill`;
  const text = await run("validate", "-f", file);
  deepStrictEqual(text.code, EXIT.usage);
  for (const at of ["4:27", "4:50", "5:41", "12:9", "13:10", "18:3"]) {
    match(text.stderr, new RegExp(`rules\\.mill:${at}: error`));
  }
  match(text.stderr, /6 errors in /);
  const json = await run("validate", "-f", file, "--json");
  deepStrictEqual(json.code, EXIT.usage);
  const { diagnostics } = JSON.parse(json.stdout);
  deepStrictEqual(diagnostics.length, 6);
  deepStrictEqual(diagnostics[0].block, 'service "web"');
  deepStrictEqual(diagnostics[0].field, "replicas");
});

Deno.test("mill validate exits 2 on a missing file or a missing -f", async () => {
  const missing = await run("validate", "-f", "/nonexistent/app.mill");
  deepStrictEqual(missing.code, EXIT.usage);
  match(missing.stderr, /Cannot read "\/nonexistent\/app\.mill": no such file/);
  const noFlag = await run("validate");
  deepStrictEqual(noFlag.code, EXIT.usage);
  match(noFlag.stderr, /required option '-f, --file <path>'/);
});

Deno.test("mill fmt prints, checks and writes in place", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/messy.mill`;
    await Deno.copyFile(`${FIXTURES}messy.mill`, file);
    const check = await run("fmt", "-f", file, "--check");
    deepStrictEqual(check.code, EXIT.failure);
    match(check.stderr, /is not formatted/);
    const printed = await run("fmt", "-f", file);
    deepStrictEqual(printed.code, EXIT.ok);
    deepStrictEqual(
      await Deno.readTextFile(file),
      await Deno.readTextFile(`${FIXTURES}messy.mill`),
    );
    const written = await run("fmt", "-f", file, "--write");
    deepStrictEqual(written.code, EXIT.ok);
    match(written.stdout, /^formatted /);
    deepStrictEqual(await Deno.readTextFile(file), printed.stdout);
    deepStrictEqual((await run("fmt", "-f", file, "--check")).code, EXIT.ok);
    match((await run("fmt", "-f", file, "-w")).stdout, /already formatted/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mill fmt leaves a file with syntax errors alone and exits 2", async () => {
  const { code, stderr } = await run(
    "fmt",
    "-f",
    `${FIXTURES}invalid/syntax.mill`,
    "--check",
  );
  deepStrictEqual(code, EXIT.usage);
  match(stderr, /syntax\.mill:3:8: error\[config\.syntax\]/);
});

Deno.test("colour is used only on a terminal and never with NO_COLOR set", () => {
  deepStrictEqual(colorAllowed(true, undefined), true);
  deepStrictEqual(colorAllowed(true, ""), true);
  deepStrictEqual(colorAllowed(true, "1"), false);
  deepStrictEqual(colorAllowed(false, undefined), false);
  deepStrictEqual(paint(false, "red", "x"), "x");
  deepStrictEqual(paint(true, "red", "x"), "\x1b[31mx\x1b[39m");
});

Deno.test("output without colour holds no escape codes", async () => {
  const { stderr } = await run(
    "validate",
    "-f",
    `${FIXTURES}invalid/rules.mill`,
  );
  ok(!stderr.includes("\x1b["));
});
