/**
 * `scripts/mill` (the binary's scoped permissions) on config files outside
 * mill's own directories, on stdin (`-f -`), on paths it cannot read, and
 * with a stdout that its reader closed early (`| head -1`).
 */
import { assertEquals, assertTrue } from "../containerd/_assert_test.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const FIXTURE = `${ROOT}tests/fixtures/config/seed_002_first_deploy.mill`;
const MESSY = `${ROOT}tests/fixtures/config/messy.mill`;
const ENV = { NO_COLOR: "1", MILL_CONFIG: "/tmp/mill-no-such-context.json" };

async function run(
  program: string,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(program, {
    args,
    cwd: "/",
    env: ENV,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

const mill = (args: string[], stdin?: string) =>
  run(`${ROOT}scripts/mill`, args, stdin);

/** A directory outside every path the binary may read (not /tmp, not the repo). */
async function outsideDir(): Promise<string> {
  return await Deno.makeTempDir({ dir: "/var/tmp", prefix: "mill-srv-" });
}

Deno.test("mill validate and deploy read a config wherever it is", async () => {
  const dir = await outsideDir();
  try {
    const file = `${dir}/production.mill`;
    await Deno.copyFile(FIXTURE, file);
    const valid = await mill(["validate", "-f", file]);
    assertEquals(valid.code, 0, valid.stderr);
    assertTrue(valid.stdout.includes(file), valid.stdout);
    assertTrue(!valid.stderr.includes("--allow-read"), valid.stderr);

    await Deno.writeTextFile(`${dir}/broken.mill`, 'service "web" {\n');
    const broken = await mill(["validate", "-f", `${dir}/broken.mill`]);
    assertEquals(broken.code, 2, broken.stderr);
    assertTrue(broken.stderr.includes(`${dir}/broken.mill:`), broken.stderr);

    // The file is read and checked; then there is no cluster to send it to.
    const deploy = await mill(["deploy", "-f", file]);
    assertEquals(deploy.code, 3, deploy.stderr);
    assertTrue(!deploy.stderr.includes("--allow-read"), deploy.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("-f - reads the config from stdin", async () => {
  const text = await Deno.readTextFile(FIXTURE);
  const valid = await mill(["validate", "-f", "-"], text);
  assertEquals(valid.code, 0, valid.stderr);
  assertTrue(valid.stdout.includes("<stdin>"), valid.stdout);
  const invalid = await mill(["validate", "-f", "-"], 'service "web" {\n');
  assertEquals(invalid.code, 2);
  assertTrue(invalid.stderr.includes("<stdin>:"), invalid.stderr);
  const formatted = await mill(
    ["fmt", "-f", "-"],
    await Deno.readTextFile(MESSY),
  );
  assertEquals(formatted.code, 0, formatted.stderr);
  const expected = await mill(["fmt", "-f", MESSY]);
  assertEquals(formatted.stdout, expected.stdout);
  const write = await mill(["fmt", "-f", "-", "--write"], text);
  assertEquals(write.code, 2);
});

Deno.test("a missing or unreadable config is a clear message and exit 2", async () => {
  const dir = await outsideDir();
  try {
    for (
      const [path, says] of [
        [`${dir}/nosuch.mill`, "no such file"],
        [dir, "it is a directory"],
        ["/tmp/mill-no-such-dir/x.mill", "no such file"],
      ]
    ) {
      const result = await mill(["validate", "-f", path!]);
      assertEquals(result.code, 2, `${path}: ${result.stderr}`);
      assertTrue(
        result.stderr.includes(`Cannot read "${path}": ${says}`),
        result.stderr,
      );
      assertTrue(!result.stderr.includes("    at "), result.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stdout closed by its reader is a quiet exit with the command's own status", async () => {
  const mill = `${ROOT}scripts/mill`;
  for (
    const [command, status] of [
      [`${mill} validate -f ${FIXTURE} | true`, "0"],
      [`${mill} validate -f ${FIXTURE} | head -1 >/dev/null`, "0"],
      [`${mill} validate -f ${FIXTURE} --json | true`, "0"],
      [`${mill} fmt -f ${MESSY} | true`, "0"],
      [`${mill} version | true`, "0"],
      [`${mill} --help | true`, "0"],
    ]
  ) {
    const result = await run("bash", [
      "-c",
      `${command}; echo "status \${PIPESTATUS[0]}" >&2`,
    ]);
    assertTrue(
      result.stderr.trim() === `status ${status}`,
      `${command}:\n${result.stderr}`,
    );
  }
});
