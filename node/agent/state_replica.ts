/**
 * A read-only copy of the cluster state on a node that is not a Raft
 * member, kept from the primaries' watch stream (state_watch.ts): it
 * resumes after a disconnect from the index it reached, tries the
 * primaries in turn, and applies entries exactly as the FSM does. Messages
 * at or below the index it has are skipped (another primary may be behind).
 */
import { applyEntry, type ClusterState, emptyState } from "../../raft/mod.ts";
import {
  decodeWatchMessage,
  WATCH_LINE_BYTES_MAX,
  WATCH_PATH,
  WATCH_PING_MS,
} from "./_watch_wire.ts";
import type { ClusterView } from "./fsm_machine.ts";
import type { Service } from "./supervisor.ts";
import { sleepUnlessAborted } from "../sleep.ts";

/** Waits between reconnects, growing to the max while no primary answers. */
export const WATCH_RETRY_MS_MIN = 100;
export const WATCH_RETRY_MS_MAX = 2_000;

export interface StateReplicaOptions {
  /** Peer `host:port` of the primaries (given the replica's state), asked on every reconnect. */
  primaries(state: ClusterState): readonly string[];
  /** The node's peer client (its certificate; asked at start). */
  peerClient(): Deno.HttpClient;
  decodeSnapshot(bytes: Uint8Array): ClusterState;
  readonly pingMs?: number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class StateReplica implements Service, ClusterView {
  readonly name = "state-replica";
  readonly #options: StateReplicaOptions;
  #state: ClusterState = emptyState();
  #index = 0;
  readonly #listeners = new Set<(state: ClusterState) => void>();
  #controller = new AbortController();
  #running: Promise<void> = Promise.resolve();
  #lastError = "";

  constructor(options: StateReplicaOptions) {
    this.#options = options;
  }

  get state(): ClusterState {
    return this.#state;
  }

  get index(): number {
    return this.#index;
  }

  subscribe(listener: (state: ClusterState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): Promise<void> {
    this.#controller = new AbortController();
    this.#running = this.#follow(this.#controller.signal);
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#controller.abort(new Error("stopping"));
    await this.#running;
  }

  async #follow(signal: AbortSignal): Promise<void> {
    let retryMs = WATCH_RETRY_MS_MIN;
    // Runs until stop(): one stream at a time, the next primary on a failure.
    for (let attempt = 0; !signal.aborted; attempt++) {
      const primaries = this.#options.primaries(this.#state);
      const peer = primaries[attempt % Math.max(1, primaries.length)];
      if (peer !== undefined) {
        const progressed = await this.#stream(peer, signal);
        if (progressed) retryMs = WATCH_RETRY_MS_MIN;
      }
      if (signal.aborted) return;
      await sleepUnlessAborted(retryMs, signal);
      retryMs = Math.min(retryMs * 2, WATCH_RETRY_MS_MAX);
    }
  }

  /** Follows one primary's stream until it ends; true when it carried anything. */
  async #stream(peer: string, signal: AbortSignal): Promise<boolean> {
    const idle = new AbortController();
    const both = AbortSignal.any([signal, idle.signal]);
    const idleMs = 3 * (this.#options.pingMs ?? WATCH_PING_MS);
    let timer = setTimeout(() => idle.abort(), idleMs);
    let progressed = false;
    try {
      const response = await fetch(
        `https://${peer}${WATCH_PATH}?from=${this.#index + 1}`,
        { client: this.#options.peerClient(), signal: both },
      );
      if (!response.ok || response.body === null) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      for await (const line of readLines(response.body, WATCH_LINE_BYTES_MAX)) {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), idleMs);
        this.#receive(line);
        progressed = true;
      }
      this.#lastError = "";
    } catch (error) {
      if (signal.aborted) return progressed;
      const text = idle.signal.aborted
        ? `${peer}: no message for ${idleMs} ms`
        : `${peer}: ${(error as Error).message}`;
      // The shell boundary: logged once per distinct failure, then retried.
      if (text !== this.#lastError) {
        this.#options.log("warn", `state watch: ${text}`);
      }
      this.#lastError = text;
    } finally {
      clearTimeout(timer);
    }
    return progressed;
  }

  #receive(line: string): void {
    const message = decodeWatchMessage(line);
    switch (message.type) {
      case "ping":
        return;
      case "snapshot":
        if (message.index <= this.#index) return;
        this.#state = this.#options.decodeSnapshot(message.data);
        this.#index = message.index;
        break;
      case "entry":
        if (message.entry.index <= this.#index) return;
        this.#state = applyEntry(this.#state, message.entry).state;
        this.#index = message.entry.index;
        break;
    }
    for (const listener of this.#listeners) listener(this.#state);
  }
}

/** The lines of a byte stream; throws on a line longer than `bytesMax`. */
export async function* readLines(
  body: ReadableStream<Uint8Array>,
  bytesMax: number,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline = buffer.indexOf("\n");
    while (newline !== -1) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf("\n");
    }
    if (buffer.length > bytesMax) {
      throw new Error(`a watch stream line exceeds ${bytesMax} bytes`);
    }
  }
}
