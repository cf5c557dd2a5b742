/**
 * The primaries' side of the watch stream (`GET /peer/v1/watch?from=N`,
 * node scope): every node that is not a Raft member keeps a read-only copy
 * of the cluster state from it. The hub remembers the last
 * `WATCH_BACKLOG_ENTRIES` command entries, so a replica that reconnects
 * resumes where it stopped; one that fell further behind, or is new, gets a
 * snapshot first. A subscriber that does not keep up (more than
 * `WATCH_QUEUE_BYTES_MAX` unread) is cut off and reconnects.
 */
import type { ClusterState, Entry, EntryApplied } from "../../raft/mod.ts";
import { ApiError } from "../api/mod.ts";
import {
  encodeWatchMessage,
  WATCH_PING_MS,
  type WatchMessage,
} from "./_watch_wire.ts";
import type { FsmMachine } from "./fsm_machine.ts";
import type { Service } from "./supervisor.ts";

/** Command entries kept for replicas that resume. */
export const WATCH_BACKLOG_ENTRIES = 4_096;
/** Streams served at once. */
export const WATCH_SUBSCRIBERS_MAX = 256;
/** Unread bytes a subscriber may have queued before it is cut off. */
export const WATCH_QUEUE_BYTES_MAX = 64 * 1024 * 1024;

export interface StateWatchOptions {
  readonly fsm: FsmMachine;
  encodeSnapshot(state: ClusterState): Uint8Array;
  readonly pingMs?: number;
}

interface Subscriber {
  send(message: WatchMessage): void;
  /** Ends the stream. */
  close(): void;
  /** Forgets a stream its reader cancelled. */
  drop(): void;
}

export class StateWatchHub implements Service {
  readonly name = "state-watch";
  readonly #options: StateWatchOptions;
  readonly #backlog: Entry[] = [];
  /** Every command entry above this index is in the backlog. */
  #floor = 0;
  readonly #subscribers = new Set<Subscriber>();
  #unsubscribe: (() => void)[] = [];

  constructor(options: StateWatchOptions) {
    this.#options = options;
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }

  start(): Promise<void> {
    const fsm = this.#options.fsm;
    this.#floor = fsm.index;
    this.#unsubscribe = [
      fsm.onApplied((applied, entry) => this.#applied(applied, entry)),
      fsm.onRestored((state, index) => this.#restored(state, index)),
    ];
    return Promise.resolve();
  }

  stop(): Promise<void> {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#unsubscribe = [];
    for (const subscriber of this.#subscribers) subscriber.close();
    this.#subscribers.clear();
    return Promise.resolve();
  }

  /** Answers a watch request. */
  handle(url: URL): Response {
    const from = parseFrom(url.searchParams.get("from"));
    if (this.#subscribers.size >= WATCH_SUBSCRIBERS_MAX) {
      throw new ApiError(503, "api.overloaded", "Too many watch streams");
    }
    const encoder = new TextEncoder();
    const pingMs = this.#options.pingMs ?? WATCH_PING_MS;
    let subscriber: Subscriber | undefined;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let queued = 0;
        let open = true;
        const timer = setInterval(
          () => subscriber?.send({ type: "ping" }),
          pingMs,
        );
        const drop = () => {
          open = false;
          clearInterval(timer);
          this.#subscribers.delete(subscriber!);
        };
        const close = () => {
          if (!open) return;
          drop();
          controller.close();
        };
        subscriber = {
          send: (message) => {
            if (!open) return;
            const bytes = encoder.encode(encodeWatchMessage(message));
            queued = controller.desiredSize === null
              ? queued
              : Math.max(0, -controller.desiredSize);
            if (queued + bytes.length > WATCH_QUEUE_BYTES_MAX) {
              close(); // too slow: it reconnects and resumes
              return;
            }
            controller.enqueue(bytes);
          },
          close,
          drop,
        };
        // Synchronously with the registration below: nothing slips between.
        this.#open(subscriber, from);
        this.#subscribers.add(subscriber);
      },
      // A caller that goes away cancels the body.
      cancel: () => subscriber?.drop(),
    }, new ByteLengthQueuingStrategy({ highWaterMark: 0 }));
    return new Response(body, {
      headers: { "content-type": "application/x-ndjson" },
    });
  }

  #open(subscriber: Subscriber, from: number): void {
    const fsm = this.#options.fsm;
    if (from > this.#floor) {
      for (const entry of this.#backlog) {
        if (entry.index >= from) subscriber.send({ type: "entry", entry });
      }
      return;
    }
    subscriber.send({
      type: "snapshot",
      index: fsm.index,
      data: this.#options.encodeSnapshot(fsm.state),
    });
  }

  #applied(applied: EntryApplied, entry: Entry): void {
    if (applied.outcome === "skipped") return;
    this.#backlog.push(entry);
    if (this.#backlog.length > WATCH_BACKLOG_ENTRIES) {
      this.#floor = this.#backlog.shift()!.index;
    }
    for (const subscriber of this.#subscribers) {
      subscriber.send({ type: "entry", entry });
    }
  }

  #restored(state: ClusterState, index: number): void {
    this.#backlog.length = 0;
    this.#floor = index;
    const data = this.#options.encodeSnapshot(state);
    for (const subscriber of this.#subscribers) {
      subscriber.send({ type: "snapshot", index, data });
    }
  }
}

function parseFrom(text: string | null): number {
  if (text === null) return 0;
  const value = Number(text);
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(value)) {
    throw new ApiError(
      400,
      "api.bad_request",
      '"from" must be a non-negative integer Raft index',
    );
  }
  return value;
}
