/**
 * The cluster FSM: state, commands, the pure `apply`, queries, the config
 * diff, command/state encoding and checksummed snapshots. `raft/mod.ts`
 * re-exports this; other folders import it from there.
 */
export { apply } from "./apply.ts";
export { applyEntry, type EntryApplied } from "./entry.ts";
export * from "./command.ts";
export * from "./state.ts";
export { PMap, type ReadonlyPMap } from "./pmap.ts";
export * from "./limits.ts";
export { checkInvariants } from "./invariants.ts";
export * from "./queries.ts";
export * from "./config_diff.ts";
export { canonicalJson } from "./canonical_json.ts";
export {
  decodeCommand,
  type DecodedCommand,
  decodeStatePayload,
  encodeCommand,
  encodeStatePayload,
  parseCommand,
} from "./codec.ts";
export * from "./snapshot.ts";
