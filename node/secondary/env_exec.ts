/**
 * env-exec, the wrapper that gives a container the env variables that
 * must stay out of its OCI spec (see env_exec.c and node/README.md): a
 * static binary per architecture, built from env_exec.c by
 * env_exec_build.ts and embedded here, so a node needs no tool of its own.
 */
import assert from "node:assert";
import { createHash } from "node:crypto";
import { ENV_EXEC_BINARIES } from "./_env_exec_binaries.ts";

/** The architectures env-exec is built for (`Deno.build.arch` names). */
export type EnvExecArch = "x86_64" | "aarch64";

/** env-exec for `arch`, or null when mill has none for it. */
export function envExecBinary(arch: string): Uint8Array | null {
  if (arch !== "x86_64" && arch !== "aarch64") return null;
  const binary = ENV_EXEC_BINARIES[arch];
  const bytes = Uint8Array.fromBase64(binary.base64);
  assert(
    createHash("sha256").update(bytes).digest("hex") === binary.sha256,
    `the embedded env-exec for ${arch} matches its SHA-256`,
  );
  return bytes;
}
