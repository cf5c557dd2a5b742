/**
 * Binary encodings of the Raft contract's plain data (entries, membership,
 * snapshot metadata, hard state), shared by the WAL, the snapshot files and
 * the transport. `kind` strings map to stable byte codes: add, never reuse.
 */
import type {
  Entry,
  EntryKind,
  HardState,
  Membership,
  SnapshotMeta,
} from "../types.ts";
import { ByteReader, ByteWriter, DecodeError } from "./bytes.ts";

const ENTRY_KIND_CODES: Readonly<Record<EntryKind, number>> = {
  command: 1,
  noop: 2,
  membership: 3,
};
const ENTRY_KINDS_BY_CODE: ReadonlyMap<number, EntryKind> = new Map(
  Object.entries(ENTRY_KIND_CODES).map((
    [kind, code],
  ) => [code, kind as EntryKind]),
);

export function writeEntry(w: ByteWriter, entry: Entry): void {
  const code: number | undefined = ENTRY_KIND_CODES[entry.kind];
  if (code === undefined) {
    throw new RangeError(`Unknown entry kind "${entry.kind}"`);
  }
  w.u64(entry.index).u64(entry.term).u8(code).bytes(entry.data);
}

export function readEntry(r: ByteReader): Entry {
  const index = r.u64();
  const term = r.u64();
  const code = r.u8();
  const kind = ENTRY_KINDS_BY_CODE.get(code);
  if (kind === undefined) {
    throw new DecodeError(`Unknown entry kind code ${code}`);
  }
  const data = r.bytes();
  return { index, term, kind, data };
}

function writeIds(w: ByteWriter, ids: readonly string[]): void {
  w.u32(ids.length);
  for (const id of ids) w.string(id);
}

/** Bound on members read from untrusted bytes. */
const MEMBERS_MAX = 1024;

function readIds(r: ByteReader): string[] {
  const n = r.u32();
  if (n > MEMBERS_MAX) {
    throw new DecodeError(`Member list of ${n} exceeds ${MEMBERS_MAX}`);
  }
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(r.string());
  return ids;
}

export function writeMembership(w: ByteWriter, membership: Membership): void {
  writeIds(w, membership.voters);
  writeIds(w, membership.learners);
}

export function readMembership(r: ByteReader): Membership {
  const voters = readIds(r);
  const learners = readIds(r);
  return { voters, learners };
}

export function writeSnapshotMeta(w: ByteWriter, meta: SnapshotMeta): void {
  w.u64(meta.index).u64(meta.term);
  writeMembership(w, meta.membership);
}

export function readSnapshotMeta(r: ByteReader): SnapshotMeta {
  const index = r.u64();
  const term = r.u64();
  const membership = readMembership(r);
  return { index, term, membership };
}

export function writeHardState(w: ByteWriter, hardState: HardState): void {
  w.u64(hardState.term);
  if (hardState.vote === null) w.u8(0);
  else w.u8(1).string(hardState.vote);
  w.u64(hardState.commit);
}

export function readHardState(r: ByteReader): HardState {
  const term = r.u64();
  const hasVote = r.u8();
  if (hasVote > 1) throw new DecodeError(`Bad vote flag ${hasVote}`);
  const vote = hasVote === 1 ? r.string() : null;
  const commit = r.u64();
  return { term, vote, commit };
}
