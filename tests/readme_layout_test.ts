/**
 * The README describes the repository as it is: its folder map names every
 * top-level folder and no other, the documents it points at exist, and its
 * set-up-free commands are exactly `scripts/demo` and `scripts/test`.
 */
import { assertEquals, assertTrue } from "../containerd/_assert_test.ts";

const ROOT = new URL("../", import.meta.url).pathname;

function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n${title}\n`);
  assertTrue(start >= 0, `README.md has no "${title}" section`);
  const rest = markdown.slice(start + title.length + 2);
  const end = rest.search(/\n## /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** Top-level folders, without .git and what .gitignore leaves out. */
async function folders(): Promise<string[]> {
  const ignored = (await Deno.readTextFile(`${ROOT}.gitignore`)).split("\n")
    .map((line) => line.trim().replace(/^\//, "").replace(/\/$/, ""))
    .filter((line) => line !== "" && !line.startsWith("#"));
  const names: string[] = [];
  for await (const entry of Deno.readDir(ROOT)) {
    if (!entry.isDirectory || entry.name === ".git") continue;
    if (ignored.includes(entry.name)) continue;
    names.push(entry.name);
  }
  return names.sort();
}

Deno.test("the README's folder map names every top-level folder and only those", async () => {
  const layout = section(
    await Deno.readTextFile(`${ROOT}README.md`),
    "## Layout",
  );
  const mapped = [...layout.matchAll(/^\| `([^`]+)\/` +\|/gm)].map((m) => m[1]!)
    .sort();
  assertTrue(mapped.length > 0, "the layout table lists folders");
  assertEquals(mapped, await folders());
});

Deno.test("the documents the README points at exist", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const documents = [
    ...new Set(
      [...readme.matchAll(/([A-Za-z0-9_./-]+\.md)\b/g)].map((m) => m[1]!),
    ),
  ];
  assertTrue(documents.length > 0);
  for (const document of documents) {
    const found = await Deno.stat(`${ROOT}${document}`).then(
      () => true,
      () => false,
    );
    assertTrue(found, `README.md points at ${document}, which does not exist`);
  }
});

Deno.test("the README keeps exactly two set-up-free commands: scripts/demo and scripts/test", async () => {
  const commands = section(
    await Deno.readTextFile(`${ROOT}README.md`),
    "## Two commands on a fresh machine",
  );
  const block = /```sh\n([\s\S]*?)```/.exec(commands)?.[1] ?? "";
  const lines = block.split("\n").map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  assertEquals(lines, ["scripts/demo", "scripts/test"]);
});
