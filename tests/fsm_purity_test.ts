/**
 * The FSM and the scheduler are pure: no I/O module, no clock, no
 * randomness. This reads their sources (and everything they import) and
 * fails on any of it. Test helpers (`*_test.ts`, `*testing.ts`) are exempt.
 */
import { deepStrictEqual } from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const PURE_FOLDERS = ["raft/fsm/", "node/scheduler/"];
/** Outside the folders, pure files they may import. */
const PURE_IMPORTS = [
  "config/types.ts",
  "config/schema.ts",
  "config/cidr.ts",
  "raft/types.ts",
];
/**
 * npm modules the pure core may import, each only from its one adapter and
 * each mapped in deno.json to an exact npm version. Only modules that
 * compute and do no I/O, read no clock and draw no randomness belong here.
 */
const PURE_PACKAGES: readonly PurePackage[] = [
  // Synchronous SHA-256 for snapshots; sha2.js imports only its own files.
  {
    specifier: "@noble/hashes/sha2.js",
    name: "@noble/hashes",
    adapter: "raft/fsm/_sha256.ts",
  },
];

interface PurePackage {
  /** The exact specifier the adapter imports. */
  readonly specifier: string;
  /** The package's key in deno.json "imports". */
  readonly name: string;
  /** The one file allowed to import it. */
  readonly adapter: string;
}

const FORBIDDEN: readonly [RegExp, string][] = [
  [/\bDeno\s*\./, "Deno API"],
  [/["'](node|npm|jsr|https?):/, "module outside the repository"],
  [/\bfetch\s*\(/, "fetch"],
  [/\bDate\s*\.\s*now\b/, "Date.now"],
  [/\bnew\s+Date\b/, "new Date"],
  [/\bperformance\s*\.\s*now\b/, "performance.now"],
  [/\bMath\s*\.\s*random\b/, "Math.random"],
  [/\brandomUUID\b/, "crypto.randomUUID"],
  [/\bgetRandomValues\b/, "crypto.getRandomValues"],
  [/\b(setTimeout|setInterval|queueMicrotask)\b/, "timer"],
  [/\bimport\s*\(/, "dynamic import"],
  [
    /\b(WebSocket|XMLHttpRequest|EventSource|BroadcastChannel)\b/,
    "network API",
  ],
];

function isExempt(path: string): boolean {
  return path.endsWith("_test.ts") || path.endsWith("testing.ts");
}

/** The source without comments, so that docs may name what code may not use. */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /(^|[^:"'`])\/\/.*$/gm,
    "$1",
  );
}

/** Every problem in one source: forbidden uses, and imports that leave the pure set. */
export function impurities(path: string, source: string): string[] {
  const code = stripComments(source);
  const problems: string[] = [];
  for (const [pattern, what] of FORBIDDEN) {
    if (pattern.test(code)) problems.push(`${path}: uses ${what}`);
  }
  for (const match of code.matchAll(/\bfrom\s+["']([^"']+)["']/g)) {
    const specifier = match[1] as string;
    if (!specifier.startsWith(".")) {
      const pure = PURE_PACKAGES.some((allowed) =>
        allowed.specifier === specifier && allowed.adapter === path
      );
      if (!pure) problems.push(`${path}: imports ${specifier}`);
      continue;
    }
    const target = new URL(specifier, new URL(path, ROOT)).href.slice(
      ROOT.href.length,
    );
    const allowed = PURE_FOLDERS.some((folder) => target.startsWith(folder)) ||
      PURE_IMPORTS.includes(target);
    if (!allowed || isExempt(target)) {
      problems.push(`${path}: imports ${target}, outside the pure core`);
    }
  }
  return problems;
}

async function pureSources(): Promise<string[]> {
  const files: string[] = [...PURE_IMPORTS];
  for (const folder of PURE_FOLDERS) {
    for await (const entry of Deno.readDir(new URL(folder, ROOT))) {
      const path = folder + entry.name;
      if (entry.isFile && path.endsWith(".ts") && !isExempt(path)) {
        files.push(path);
      }
    }
  }
  return files.sort();
}

Deno.test("the FSM and the scheduler import no I/O module and use no clock or randomness", async () => {
  const files = await pureSources();
  if (files.length < 20) {
    throw new Error(`only ${files.length} files found; is the layout right?`);
  }
  const problems: string[] = [];
  for (const path of files) {
    problems.push(
      ...impurities(path, await Deno.readTextFile(new URL(path, ROOT))),
    );
  }
  deepStrictEqual(problems, []);
});

Deno.test("each npm module the pure core may import is pinned to an exact npm version", async () => {
  const config: unknown = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  );
  const imports = typeof config === "object" && config !== null &&
      "imports" in config && typeof config.imports === "object" &&
      config.imports !== null
    ? new Map(Object.entries(config.imports))
    : new Map<string, unknown>();
  for (const { name } of PURE_PACKAGES) {
    const target = imports.get(name);
    const prefix = `npm:${name}@`;
    const pinned = typeof target === "string" && target.startsWith(prefix) &&
      /^\d+\.\d+\.\d+$/.test(target.slice(prefix.length));
    if (!pinned) {
      throw new Error(
        `deno.json maps "${name}" to ${target}, not npm:${name}@x.y.z`,
      );
    }
  }
});

Deno.test("the purity check catches each forbidden use", async (t) => {
  const cases: [string, string][] = [
    ["Deno API", "const x = Deno.env.get('A');"],
    ["node module", 'import { readFile } from "node:fs";'],
    ["npm module", 'import yaml from "npm:yaml";'],
    ["bare specifier", 'import yaml from "yaml";'],
    ["fetch", "await fetch(url);"],
    ["clock", "const now = Date.now();"],
    ["date", "const now = new Date();"],
    ["randomness", "const r = Math.random();"],
    ["uuid", "const id = crypto.randomUUID();"],
    ["timer", "setTimeout(f, 1);"],
    ["a shell file", 'import { x } from "../../node/agent.ts";'],
    ["a test helper", 'import { x } from "./testing.ts";'],
    [
      "an allowed npm module outside its adapter",
      'import { sha256 } from "@noble/hashes/sha2.js";',
    ],
  ];
  for (const [name, source] of cases) {
    await t.step(name, () => {
      if (impurities("raft/fsm/x.ts", source).length === 0) {
        throw new Error(`missed: ${source}`);
      }
    });
  }
  await t.step("an adapter may import only its own npm module", () => {
    const adapter = "raft/fsm/_sha256.ts";
    deepStrictEqual(
      impurities(adapter, 'import { sha256 } from "@noble/hashes/sha2.js";'),
      [],
    );
    for (
      const source of [
        'import { randomBytes } from "@noble/hashes/utils.js";',
        'import { sha256 } from "npm:@noble/hashes@2.4.0/sha2.js";',
        'import yaml from "yaml";',
      ]
    ) {
      if (impurities(adapter, source).length === 0) {
        throw new Error(`missed: ${source}`);
      }
    }
  });
  await t.step("comments may name them", () => {
    deepStrictEqual(
      impurities(
        "raft/fsm/x.ts",
        "// no Date.now here\n/* nor Math.random */\n",
      ),
      [],
    );
  });
});
