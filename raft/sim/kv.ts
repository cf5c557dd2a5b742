/**
 * The key-value state machine the simulated clients drive through Raft, and
 * the sequential model the linearizability checker replays.
 */

export type KvWrite =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | {
    readonly op: "cas";
    readonly key: string;
    readonly expected: string | null;
    readonly value: string;
  };

export type KvOp = KvWrite | { readonly op: "get"; readonly key: string };

/** What an operation returned: "ok" for put, the value for get, whether it swapped for cas. */
export type KvOutput = string | null | boolean;

/** A command as it travels in a log entry. */
export interface KvCommand {
  readonly client: number;
  readonly seq: number;
  readonly write: KvWrite;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(command: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(decoder.decode(data)) as KvCommand;
}

/** The sequential specification of one key. */
export function stepModel(
  state: string | null,
  op: KvOp,
): { state: string | null; output: KvOutput } {
  switch (op.op) {
    case "put":
      return { state: op.value, output: "ok" };
    case "get":
      return { state, output: state };
    case "cas":
      return state === op.expected
        ? { state: op.value, output: true }
        : { state, output: false };
  }
}

/** The replicated state machine of one node. */
export class KvMachine {
  #values = new Map<string, string>();

  apply(command: KvCommand): KvOutput {
    const key = command.write.key;
    const { state, output } = stepModel(
      this.#values.get(key) ?? null,
      command.write,
    );
    if (state === null) this.#values.delete(key);
    else this.#values.set(key, state);
    return output;
  }

  get(key: string): string | null {
    return this.#values.get(key) ?? null;
  }

  serialize(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.#values].sort()));
  }

  static deserialize(data: Uint8Array): KvMachine {
    const machine = new KvMachine();
    if (data.length > 0) {
      for (
        const [key, value] of JSON.parse(decoder.decode(data)) as [
          string,
          string,
        ][]
      ) {
        machine.#values.set(key, value);
      }
    }
    return machine;
  }
}
