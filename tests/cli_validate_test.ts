/**
 * The CLI as users run it: `scripts/mill` (Deno with the binary's scoped
 * permissions) on the seed examples and on broken files.
 */

import { deepStrictEqual, match } from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;
const FIXTURES = `${ROOT}tests/fixtures/config/`;

async function mill(...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(
    `${ROOT}scripts/mill`,
    {
      args,
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      // No CLI context: cluster commands must say how to get one.
      env: { NO_COLOR: "1", MILL_CONFIG: "/tmp/mill-no-such-context.json" },
    },
  ).output();
  const decoder = new TextDecoder();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}

Deno.test("scripts/mill validate exits 0 on each seed example", async () => {
  const files = [
    "seed_000_volume.mill",
    "seed_002_first_deploy.mill",
    "full.mill",
  ];
  const results = await Promise.all(
    files.map((f) => mill("validate", "-f", `${FIXTURES}${f}`)),
  );
  results.forEach((result, i) => {
    deepStrictEqual(result.code, 0, `${files[i]}: ${result.stderr}`);
    match(result.stdout, /^valid: /);
  });
  match(results[1]?.stdout ?? "", /services {2}2 \(3 replicas\)/);
  match(results[1]?.stdout ?? "", /db\.url ← service "api"/);
});

Deno.test("scripts/mill validate exits 2 on broken files, naming line and column", async () => {
  const [rules, syntax] = await Promise.all([
    mill("validate", "-f", "tests/fixtures/config/invalid/rules.mill"),
    mill("validate", "-f", "tests/fixtures/config/invalid/syntax.mill"),
  ]);
  deepStrictEqual(rules?.code, 2);
  match(
    rules?.stderr ?? "",
    /^tests\/fixtures\/config\/invalid\/rules\.mill:4:27: error\[config\.out_of_range\]: Field "replicas" of service "web" must be between 1 and 1000, found 0$/m,
  );
  match(
    rules?.stderr ?? "",
    /rules\.mill:18:3: error\[config\.route_on_task\]/,
  );
  deepStrictEqual(syntax?.code, 2);
  match(
    syntax?.stderr ?? "",
    /syntax\.mill:3:8: error\[config\.syntax\]: Expected "=" or "\{" after "port"/,
  );
  match(
    syntax?.stderr ?? "",
    /syntax\.mill:4:13: error\[config\.unterminated_string\]/,
  );
});

Deno.test("scripts/mill version and --help exit 0; a cluster command exits 3", async () => {
  const [version, help, status] = await Promise.all([
    mill("version"),
    mill("--help"),
    mill("status"),
  ]);
  deepStrictEqual(version?.code, 0);
  match(version?.stdout ?? "", /^mill 0\.1\.0/);
  deepStrictEqual(help?.code, 0);
  match(help?.stdout ?? "", /validate \[options\]/);
  deepStrictEqual(status?.code, 3);
  match(status?.stderr ?? "", /cli\.no_context/);
});

Deno.test("scripts/mill validate accepts an empty file and says what deploying it does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mill-empty-" });
  try {
    await Deno.writeTextFile(`${dir}/down.mill`, "# nothing runs here\n");
    const result = await mill("validate", "-f", `${dir}/down.mill`);
    deepStrictEqual(result.code, 0, result.stderr);
    match(result.stdout, /^valid: /);
    match(result.stdout, /note: .*deploying it removes every service/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
