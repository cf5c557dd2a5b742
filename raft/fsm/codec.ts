/**
 * Commands and state as bytes and text: commands for Raft entries, the
 * state as the canonical JSON payload of a snapshot. Pure: text in, typed
 * values (or the reason they are refused) out. The checksummed snapshot
 * frame around the payload lives in `snapshot.ts`.
 */
import type { Command, Rejection } from "./command.ts";
import { COMMAND_TYPES } from "./command.ts";
import type { AcmeState, Alloc, ClusterState, FsmNode } from "./state.ts";
import { PMap } from "./pmap.ts";
import { COMMAND_BYTES_MAX } from "./limits.ts";
import { canonicalJson } from "./canonical_json.ts";
import { EMPTY_ACME, NO_ROTATED_TOKENS } from "./state.ts";
import type {
  AllocRecord,
  NodeRecord,
  StateDocument,
} from "./state_document.ts";

export type {
  AllocRecord,
  NodeRecord,
  StateDocument,
} from "./state_document.ts";
import { checkInvariants, rebuildUsage } from "./invariants.ts";
import { SchemaError } from "../../config/schema.ts";
import { commandParsers, stateDocumentParser } from "./_schemas.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A command as the bytes of a Raft entry (canonical JSON, UTF-8). */
export function encodeCommand(command: Command): Uint8Array {
  return encoder.encode(canonicalJson(command));
}

export type DecodedCommand =
  | { readonly ok: true; readonly command: Command }
  | { readonly ok: false; readonly rejection: Rejection };

/** The command in a Raft entry's bytes, or why they are not one. */
export function decodeCommand(bytes: Uint8Array): DecodedCommand {
  if (bytes.length > COMMAND_BYTES_MAX) {
    return invalid(
      `Command is ${bytes.length} bytes, over ${COMMAND_BYTES_MAX}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    // Not a throw: a malformed entry is data the caller reports.
    return invalid(`Command is not UTF-8 JSON: ${String(error)}`);
  }
  return parseCommand(value);
}

/** A command from untrusted parsed JSON, checked field by field. */
export function parseCommand(value: unknown): DecodedCommand {
  if (typeof value !== "object" || value === null || !("type" in value)) {
    return invalid("Command must be an object with a type");
  }
  const type = value.type;
  const known = COMMAND_TYPES.find((candidate) => candidate === type);
  if (known === undefined) {
    return {
      ok: false,
      rejection: {
        code: "command.unknown_type",
        message: `Unknown command type ${JSON.stringify(type)}`,
      },
    };
  }
  try {
    return { ok: true, command: commandParsers[known](value, known) };
  } catch (error) {
    if (!(error instanceof SchemaError)) throw error;
    return invalid(`Malformed command: ${error.message}`);
  }
}

function invalid(message: string): DecodedCommand {
  return { ok: false, rejection: { code: "command.invalid", message } };
}

function byKey<T>(key: (item: T) => string) {
  return (a: T, b: T) => {
    const left = key(a);
    const right = key(b);
    return left < right ? -1 : left > right ? 1 : 0;
  };
}

/** The state as a plain document, every collection sorted by its key. */
export function stateToDocument(state: ClusterState): StateDocument {
  const nodes = [...state.nodes.values()].map((node): NodeRecord => {
    const {
      cpuMillisReserved: _cpu,
      memoryBytesReserved: _memory,
      activeAllocs: _active,
      hostPorts: _ports,
      allocHosts: _hosts,
      subnet,
      mesh,
      containers,
      ...record
    } = node;
    // Absent while null (or true), so older states keep their bytes.
    return {
      ...record,
      ...(subnet === null ? {} : { subnet }),
      ...(mesh === null ? {} : { mesh }),
      ...(containers ? {} : { containers: false as const }),
    };
  });
  const allocs = [...state.allocs.values()].map((alloc): AllocRecord => {
    const { ip, ...record } = alloc;
    return ip === null ? record : { ...record, ip };
  });
  return {
    config: state.config,
    nodes: nodes.sort(byKey((node) => node.id)),
    allocs: allocs.sort(byKey((alloc) => alloc.id)),
    secrets: [...state.secrets.values()].sort(byKey((secret) => secret.name)),
    volumes: [...state.volumes.values()].sort(byKey((volume) => volume.name)),
    deploys: state.deploys,
    ...(state.tokens.admin === null && state.tokens.join === null
      ? {}
      : { tokens: state.tokens }),
    ...(state.network === null ? {} : { network: state.network }),
    ...(state.removedNodes.length === 0
      ? {}
      : { removedNodes: state.removedNodes }),
    ...(isEmptyAcme(state.acme) ? {} : { acme: state.acme }),
  };
}

/** The state as canonical JSON text: the same state, the same text. */
export function encodeStatePayload(state: ClusterState): string {
  return canonicalJson(stateToDocument(state));
}

export type DecodedState =
  | { readonly ok: true; readonly state: ClusterState }
  | { readonly ok: false; readonly message: string };

/** The state in a payload, or why the payload is not a sound state. */
export function decodeStatePayload(text: string): DecodedState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // A corrupt payload is reported, not thrown: the caller refuses it.
    return { ok: false, message: `payload is not JSON: ${String(error)}` };
  }
  let document: StateDocument;
  try {
    document = stateDocumentParser(value, "state");
  } catch (error) {
    if (!(error instanceof SchemaError)) throw error;
    return { ok: false, message: error.message };
  }
  if (canonicalJson(value) !== text) {
    return { ok: false, message: "payload is not in canonical form" };
  }
  return stateFromDocument(document);
}

/** A state from a validated document: keys unique, usage rebuilt, invariants hold. */
export function stateFromDocument(document: StateDocument): DecodedState {
  const nodes = collect(document.nodes, (node) => node.id, (node): FsmNode => ({
    ...node,
    cpuMillisReserved: 0,
    memoryBytesReserved: 0,
    activeAllocs: 0,
    hostPorts: [],
    allocHosts: [],
    subnet: node.subnet ?? null,
    mesh: node.mesh ?? null,
    containers: node.containers !== false,
  }));
  if (typeof nodes === "string") return duplicate("node", nodes);
  const allocs = collect(
    document.allocs,
    (alloc) => alloc.id,
    (alloc): Alloc => ({ ...alloc, ip: alloc.ip ?? null }),
  );
  if (typeof allocs === "string") return duplicate("alloc", allocs);
  const secrets = collect(document.secrets, (secret) => secret.name, (s) => s);
  if (typeof secrets === "string") return duplicate("secret", secrets);
  const volumes = collect(document.volumes, (volume) => volume.name, (v) => v);
  if (typeof volumes === "string") return duplicate("volume", volumes);
  const state = rebuildUsage({
    config: document.config,
    nodes,
    allocs,
    secrets,
    volumes,
    deploys: document.deploys,
    tokens: document.tokens ?? NO_ROTATED_TOKENS,
    network: document.network ?? null,
    removedNodes: document.removedNodes ?? [],
    acme: document.acme ?? EMPTY_ACME,
  });
  const problems = checkInvariants(state);
  if (problems.length > 0) {
    return { ok: false, message: `state breaks invariants: ${problems[0]}` };
  }
  return { ok: true, state };
}

function duplicate(what: string, key: string): DecodedState {
  return { ok: false, message: `duplicate ${what} ${JSON.stringify(key)}` };
}

/** A map of the items by key, or the first duplicated key. */
function collect<T, V>(
  items: readonly T[],
  key: (item: T) => string,
  toValue: (item: T) => V,
): PMap<V> | string {
  let map = PMap.empty<V>();
  for (const item of items) {
    const id = key(item);
    if (map.has(id)) return id;
    map = map.set(id, toValue(item));
  }
  return map;
}

function isEmptyAcme(acme: AcmeState): boolean {
  return acme.settings === null && acme.account === null &&
    acme.lease === null && acme.challenges.length === 0 &&
    acme.certificates.length === 0;
}
