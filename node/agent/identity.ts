/**
 * A node's own identity, kept in `node.json` of its data dir: the node id
 * (also its Raft member id), the install id (`millId`, the FSM's guard
 * against two installs claiming one node) and its name. Made once, on the
 * agent's first start; the same on every restart.
 */
import { writeFileAtomic } from "../cluster_init/mod.ts";

export const NODE_FILE = "node.json";
export const NODE_FILE_FORMAT = 1;

export interface NodeIdentity {
  readonly nodeId: string;
  readonly millId: string;
  readonly name: string;
}

/** Node names: what `node.name` constraints match and `mill nodes` shows. */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Loads `node.json`, or makes it with `name` on the first start. */
export async function loadOrCreateNodeIdentity(
  dataDir: string,
  name: string,
): Promise<NodeIdentity> {
  const path = `${dataDir}/${NODE_FILE}`;
  let text: string | null = null;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (text !== null) return parseNodeIdentity(path, text);
  if (!NODE_NAME_PATTERN.test(name)) {
    throw new Error(
      `Node name "${name}" is not valid: use letters, digits, ".", "_" and "-" (at most 63)`,
    );
  }
  const identity: NodeIdentity = {
    nodeId: `n-${randomHex(6)}`,
    millId: randomHex(16),
    name,
  };
  await writeFileAtomic(
    path,
    JSON.stringify({ format: NODE_FILE_FORMAT, ...identity }, null, 2) + "\n",
    { mode: 0o600, createNew: true },
  );
  return identity;
}

/** Parses `node.json`; throws naming the file when it is not one. */
export function parseNodeIdentity(path: string, text: string): NodeIdentity {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`"${path}" is not JSON; restore or remove it`, {
      cause: error,
    });
  }
  if (
    typeof value === "object" && value !== null &&
    "format" in value && value.format === NODE_FILE_FORMAT &&
    "nodeId" in value && typeof value.nodeId === "string" &&
    /^[A-Za-z0-9._-]{1,64}$/.test(value.nodeId) &&
    "millId" in value && typeof value.millId === "string" &&
    value.millId.length > 0 &&
    "name" in value && typeof value.name === "string" &&
    NODE_NAME_PATTERN.test(value.name)
  ) {
    return { nodeId: value.nodeId, millId: value.millId, name: value.name };
  }
  throw new Error(
    `"${path}" is not a format-${NODE_FILE_FORMAT} node file; restore or remove it`,
  );
}

/** The machine's cores and memory, for `NodeRegister`. */
export function machineResources(): { cpuMillis: number; memoryBytes: number } {
  return {
    cpuMillis: navigator.hardwareConcurrency * 1000,
    memoryBytes: Deno.systemMemoryInfo().total,
  };
}
