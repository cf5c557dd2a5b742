/**
 * cli/README.md lists every command with its real flags: its "Commands"
 * list holds exactly the synopses `cli/usage.ts` makes from the specs.
 */
import { assertEquals } from "../containerd/_assert_test.ts";
import { COMMANDS } from "./mod.ts";
import { optionSynopsis, synopses, synopsis } from "./usage.ts";

const README = new URL("./README.md", import.meta.url);

function listedSynopses(markdown: string): string[] {
  const start = markdown.indexOf("\n## Commands\n");
  const rest = markdown.slice(start + 1);
  const end = rest.indexOf("\n## ", 1);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^- `(mill [^`]*)`/gm)].map((m) => m[1]!);
}

Deno.test("cli/README.md lists every command with the flags it really takes", async () => {
  const listed = listedSynopses(await Deno.readTextFile(README));
  const real = synopses(COMMANDS);
  const missing = real.filter((s) => !listed.includes(s));
  const stale = listed.filter((s) => !real.includes(s));
  assertEquals(
    { missing, stale },
    { missing: [], stale: [] },
    "cli/README.md's Commands list must hold these synopses",
  );
  assertEquals(listed, real, "in the order of `mill --help`");
});

Deno.test("a synopsis shows arguments, required and optional flags and their values", () => {
  assertEquals(
    optionSynopsis({ flags: "-f, --file <path>", description: "" }),
    "[-f|--file PATH]",
  );
  assertEquals(
    optionSynopsis({
      flags: "--token <token>",
      description: "",
      required: true,
    }),
    "--token TOKEN",
  );
  assertEquals(
    synopsis({
      name: "logs",
      summary: "",
      arguments: [
        { name: "name", description: "", required: true },
        { name: "more", description: "", required: false },
      ],
      options: [{ flags: "--json", description: "" }],
    }, ["mill"]),
    "mill logs NAME [MORE] [--json]",
  );
});
