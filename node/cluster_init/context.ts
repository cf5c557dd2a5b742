/**
 * The CLI's context file (`~/.mill/config.json`, mode 0600, its directory
 * 0700): where the API is, which CA to trust and which token to present.
 * `mill init` adds its cluster as a context and makes it current; other
 * contexts in the file are kept.
 *
 * ```json
 * { "format": 1, "current": "default",
 *   "contexts": { "default": { "apiUrl": "https://10.0.0.1:7443",
 *     "clusterId": "…", "caCertPem": "-----BEGIN…", "token": "…" } } }
 * ```
 */
import { writeFileAtomic } from "../../raft/mod.ts";
import { ensureDir } from "./fs.ts";
import { InitError } from "./errors.ts";

export const CLI_CONTEXT_FORMAT = 1;
/** Largest context file read. */
export const CLI_CONTEXT_BYTES_MAX = 1024 * 1024;

export interface CliContext {
  readonly apiUrl: string;
  readonly clusterId: string;
  readonly caCertPem: string;
  readonly token: string;
}

export interface CliContextFile {
  readonly format: number;
  readonly current: string | null;
  readonly contexts: Readonly<Record<string, CliContext>>;
}

/** The default context file: `$HOME/.mill/config.json`. */
export function defaultCliContextPath(): string {
  const home = Deno.env.get("HOME");
  if (home === undefined || home === "") {
    throw new InitError(
      "init.invalid_options",
      "HOME is not set; pass the context file path explicitly",
    );
  }
  return `${home}/.mill/config.json`;
}

/** Reads the context file; an absent file is an empty one. */
export async function readCliContextFile(
  path: string,
): Promise<CliContextFile> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (info.size > CLI_CONTEXT_BYTES_MAX) {
      throw new InitError(
        "init.invalid_context",
        `Context file "${path}" is too large`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return { format: CLI_CONTEXT_FORMAT, current: null, contexts: {} };
    }
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidContext(path, "is not JSON", err);
  }
  return parseCliContextFile(path, parsed);
}

/** Validates a context file's JSON. */
export function parseCliContextFile(
  path: string,
  value: unknown,
): CliContextFile {
  if (!isRecord(value) || value.format !== CLI_CONTEXT_FORMAT) {
    throw invalidContext(
      path,
      `is not a format-${CLI_CONTEXT_FORMAT} mill context file`,
    );
  }
  const current = value.current;
  if (current !== null && typeof current !== "string") {
    throw invalidContext(path, 'has a non-string "current"');
  }
  if (!isRecord(value.contexts)) {
    throw invalidContext(path, 'has no "contexts" object');
  }
  const contexts: Record<string, CliContext> = {};
  for (const [name, context] of Object.entries(value.contexts)) {
    if (
      !isRecord(context) || typeof context.apiUrl !== "string" ||
      typeof context.clusterId !== "string" ||
      typeof context.caCertPem !== "string" || typeof context.token !== "string"
    ) {
      throw invalidContext(path, `has an invalid context "${name}"`);
    }
    contexts[name] = {
      apiUrl: context.apiUrl,
      clusterId: context.clusterId,
      caCertPem: context.caCertPem,
      token: context.token,
    };
  }
  if (current !== null && contexts[current] === undefined) {
    throw invalidContext(path, `names a missing current context "${current}"`);
  }
  return { format: CLI_CONTEXT_FORMAT, current, contexts };
}

/**
 * Adds (or replaces) the context `name` and makes it current, keeping the
 * others. Written atomically with mode 0600 in a 0700 directory.
 */
export async function saveCliContext(
  path: string,
  name: string,
  context: CliContext,
): Promise<void> {
  const existing = await readCliContextFile(path);
  const file: CliContextFile = {
    format: CLI_CONTEXT_FORMAT,
    current: name,
    contexts: { ...existing.contexts, [name]: context },
  };
  const dir = path.slice(0, Math.max(path.lastIndexOf("/"), 0)) || ".";
  await ensureDir(dir, 0o700);
  await writeFileAtomic(path, JSON.stringify(file, null, 2) + "\n", {
    mode: 0o600,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalidContext(
  path: string,
  what: string,
  cause?: unknown,
): InitError {
  return new InitError(
    "init.invalid_context",
    `Context file "${path}" ${what}; fix or remove it`,
    cause === undefined ? undefined : { cause },
  );
}
