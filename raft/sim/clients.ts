/**
 * Simulated clients of the key-value model: each has at most one operation
 * at a time, writes go through `propose`, reads through `readIndex`, and
 * every operation lands in a history for the linearizability checker.
 */
import type { SeededRng } from "../rng.ts";
import type { MemberId, ReadState } from "../types.ts";
import {
  decodeCommand,
  encodeCommand,
  type KvOp,
  type KvOutput,
  type KvWrite,
} from "./kv.ts";
import type { HistoryOp } from "./linearizability.ts";
import type { Applied, SimNode } from "./node.ts";

/** Steps a client waits for an answer before it gives up (the op stays open if it may still apply). */
export const CLIENT_PATIENCE_STEPS = 400;

type Record = {
  client: number;
  op: KvOp;
  invokedAt: number;
  returnedAt: number | null;
  output: KvOutput | undefined;
  /** Known not to have taken effect: left out of the history. */
  void: boolean;
};

type Attempt =
  | { readonly phase: "unsent"; readonly record: Record }
  | {
    readonly phase: "proposed";
    readonly record: Record;
    readonly sentAt: number;
  }
  | {
    readonly phase: "reading";
    readonly record: Record;
    readonly sentAt: number;
    readonly requestId: string;
  };

type PendingWrite = {
  readonly record: Record;
  readonly seq: number;
  readonly client: number;
  readonly term: number;
};
type PendingRead = {
  readonly record: Record;
  readonly node: MemberId;
  index: number | null;
};

export interface ClientOptions {
  readonly clients: number;
  readonly keys: number;
  /** Broken variant for checker tests: read any member's state without ReadIndex. */
  readonly staleReads: boolean;
}

export class SimClients {
  readonly #records: Record[] = [];
  readonly #attempts: (Attempt | null)[];
  readonly #targets: (MemberId | null)[];
  readonly #seqs: number[];
  readonly #lastSeen = new Map<string, string | null>();
  readonly #writesByIndex = new Map<number, PendingWrite[]>();
  readonly #reads = new Map<string, PendingRead>();
  /** The first application seen at each index (all members agree, or safety fails). */
  readonly #appliedAt = new Map<number, Applied>();
  readonly #rng: SeededRng;
  readonly #options: ClientOptions;
  #requestSeq = 0;
  completed = 0;

  constructor(rng: SeededRng, options: ClientOptions) {
    this.#rng = rng;
    this.#options = options;
    this.#attempts = Array.from({ length: options.clients }, () => null);
    this.#targets = Array.from({ length: options.clients }, () => null);
    this.#seqs = Array.from({ length: options.clients }, () => 0);
  }

  /** Let one random client make progress; returns a trace line. */
  act(now: number, nodes: readonly SimNode[], startNew = true): string {
    const client = this.#rng.nextInt(this.#options.clients);
    let attempt = this.#attempts[client];
    if (!attempt) {
      if (!startNew) return `client ${client} idle`;
      attempt = { phase: "unsent", record: this.#newRecord(client, now) };
      this.#attempts[client] = attempt;
    }
    if (attempt.phase !== "unsent") {
      if (now - attempt.sentAt > CLIENT_PATIENCE_STEPS) {
        if (attempt.phase === "reading") {
          attempt.record.void = true;
          this.#reads.delete(attempt.requestId);
        }
        this.#attempts[client] = null;
        return `client ${client} gives up on ${attempt.record.op.op}`;
      }
      return `client ${client} waits`;
    }
    return this.#send(client, attempt.record, now, nodes);
  }

  #newRecord(client: number, now: number): Record {
    const key = `k${this.#rng.nextInt(this.#options.keys)}`;
    const seq = ++this.#seqs[client]!;
    const value = `c${client}.${seq}`;
    const roll = this.#rng.nextInt(10);
    let op: KvOp;
    if (roll < 4) op = { op: "put", key, value };
    else if (roll < 8) op = { op: "get", key };
    else {op = {
        op: "cas",
        key,
        expected: this.#lastSeen.get(key) ?? null,
        value,
      };}
    const record: Record = {
      client,
      op,
      invokedAt: now,
      returnedAt: null,
      output: undefined,
      void: false,
    };
    this.#records.push(record);
    return record;
  }

  #send(
    client: number,
    record: Record,
    now: number,
    nodes: readonly SimNode[],
  ): string {
    const up = nodes.filter((node) => node.up);
    if (up.length === 0) return `client ${client} finds no member up`;
    const target = up.find((node) => node.id === this.#targets[client]) ??
      up[this.#rng.nextInt(up.length)]!;
    const core = target.core!;
    if (record.op.op === "get" && this.#options.staleReads) {
      this.#complete(record, now, target.machine.get(record.op.key));
      this.#attempts[client] = null;
      return `client ${client} stale-reads ${record.op.key} at ${target.id}`;
    }
    if (record.op.op === "get") {
      const requestId = `r${++this.#requestSeq}`;
      const result = core.readIndex(requestId);
      if (!result.ok) {
        return this.#retarget(client, result.leader, target.id, result.code);
      }
      this.#reads.set(requestId, { record, node: target.id, index: null });
      this.#attempts[client] = {
        phase: "reading",
        record,
        sentAt: now,
        requestId,
      };
      return `client ${client} read ${record.op.key} via ${target.id} as ${requestId}`;
    }
    const write: KvWrite = record.op;
    const seq = this.#seqs[client]!;
    const result = core.propose(encodeCommand({ client, seq, write }));
    if (!result.ok) {
      return this.#retarget(client, result.leader, target.id, result.code);
    }
    const pending = this.#writesByIndex.get(result.index) ?? [];
    pending.push({ record, seq, client, term: result.term });
    this.#writesByIndex.set(result.index, pending);
    this.#attempts[client] = { phase: "proposed", record, sentAt: now };
    // A stale leader may hand out an index the cluster applied long ago.
    const known = this.#appliedAt.get(result.index);
    if (known) this.onApplied(known, now);
    return `client ${client} ${write.op} ${write.key}=${write.value} at ${target.id} -> ${result.index}@${result.term}`;
  }

  #retarget(
    client: number,
    leader: MemberId | null,
    tried: MemberId,
    code: string,
  ): string {
    this.#targets[client] = leader !== tried ? leader : null;
    return `client ${client} refused by ${tried} (${code}), next ${
      leader ?? "anyone"
    }`;
  }

  /** Any member applied an entry: resolve the writes proposed at its index. */
  onApplied(applied: Applied, now: number): void {
    if (!this.#appliedAt.has(applied.entry.index)) {
      this.#appliedAt.set(applied.entry.index, applied);
    }
    const pending = this.#writesByIndex.get(applied.entry.index);
    if (!pending) return;
    this.#writesByIndex.delete(applied.entry.index);
    const command = applied.entry.kind === "command"
      ? decodeCommand(applied.entry.data)
      : null;
    for (const write of pending) {
      // (index, term) alone does not name our entry: a lone voter whose
      // hard state a crash lost leads the same term again and reuses its
      // indices for other commands (nothing of the first time was durable
      // or acknowledged). The client knows its own command.
      const ours = command !== null && applied.entry.term === write.term &&
        command.client === write.client && command.seq === write.seq;
      if (ours) this.#complete(write.record, now, applied.output);
      else if (write.record.returnedAt === null) write.record.void = true;
      const attempt = this.#attempts[write.client];
      if (attempt?.record === write.record) this.#attempts[write.client] = null;
    }
  }

  onReadState(node: MemberId, read: ReadState): void {
    const pending = this.#reads.get(read.requestId);
    if (pending && pending.node === node) pending.index = read.index;
  }

  /** Serve reads whose read index a member has now applied. */
  serveReads(now: number, nodes: readonly SimNode[]): void {
    for (const [requestId, read] of this.#reads) {
      if (read.index === null) continue;
      const node = nodes.find((candidate) => candidate.id === read.node);
      if (!node?.core || node.core.appliedIndex < read.index) continue;
      this.#reads.delete(requestId);
      this.#complete(read.record, now, node.machine.get(read.record.op.key));
      const attempt = this.#attempts[read.record.client];
      if (attempt?.record === read.record) {
        this.#attempts[read.record.client] = null;
      }
    }
  }

  #complete(record: Record, now: number, output: KvOutput | undefined): void {
    if (record.void || record.returnedAt !== null) return;
    record.returnedAt = now;
    record.output = output;
    this.completed++;
    if (record.op.op === "get") {
      this.#lastSeen.set(record.op.key, output as string | null);
    } else if (record.op.op === "put" || output === true) {
      this.#lastSeen.set(record.op.key, record.op.value);
    }
  }

  /** Some client has an operation under way. */
  get busy(): boolean {
    return this.#attempts.some((attempt) => attempt !== null);
  }

  /** The lowest log index a write still waits on (null when none). */
  lowestOpenWrite(): number | null {
    let lowest: number | null = null;
    for (const index of this.#writesByIndex.keys()) {
      lowest = Math.min(lowest ?? index, index);
    }
    return lowest;
  }

  history(): HistoryOp[] {
    return this.#records.filter((record) =>
      !record.void && !(record.op.op === "get" && record.returnedAt === null)
    )
      .map(({ client, op, invokedAt, returnedAt, output }) => ({
        client,
        op,
        invokedAt,
        returnedAt,
        output,
      }));
  }
}
