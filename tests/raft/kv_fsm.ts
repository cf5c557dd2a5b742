/**
 * The test key-value state machine: every command appends a value to a key,
 * and the FSM keeps its whole applied history, so a checker can see every
 * write, its log index, and whether any was applied twice.
 */
import type { Entry } from "../../raft/types.ts";
import type { StateMachine } from "../../raft/node.ts";

export interface KvWrite {
  readonly key: string;
  readonly value: string;
}

export interface KvApplied extends KvWrite {
  readonly index: number;
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

export function encodeKvWrite(write: KvWrite): Uint8Array {
  return ENCODER.encode(JSON.stringify([write.key, write.value]));
}

function decodeKvWrite(data: Uint8Array): KvWrite {
  const parsed: unknown = JSON.parse(DECODER.decode(data));
  if (
    !Array.isArray(parsed) || typeof parsed[0] !== "string" ||
    typeof parsed[1] !== "string"
  ) {
    throw new Error(`Bad KV command ${DECODER.decode(data)}`);
  }
  return { key: parsed[0], value: parsed[1] };
}

export class KvStateMachine implements StateMachine {
  history: KvApplied[] = [];
  #values = new Map<string, string[]>();

  apply(entry: Entry): number {
    const write = decodeKvWrite(entry.data);
    this.history.push({ index: entry.index, ...write });
    let list = this.#values.get(write.key);
    if (list === undefined) this.#values.set(write.key, list = []);
    list.push(write.value);
    return list.length;
  }

  get(key: string): readonly string[] {
    return this.#values.get(key) ?? [];
  }

  snapshot(): Uint8Array {
    return ENCODER.encode(JSON.stringify(this.history));
  }

  restore(data: Uint8Array): void {
    const parsed: unknown = JSON.parse(DECODER.decode(data));
    if (!Array.isArray(parsed)) throw new Error("Bad KV snapshot");
    this.history = [];
    this.#values = new Map();
    for (const item of parsed as KvApplied[]) {
      this.history.push(item);
      let list = this.#values.get(item.key);
      if (list === undefined) this.#values.set(item.key, list = []);
      list.push(item.value);
    }
  }
}
