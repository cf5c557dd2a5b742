/**
 * Task exit and OOM events from containerd's event stream, so that a crash
 * is seen at once. The subscription is re-made when containerd restarts;
 * `onResubscribe` tells the caller to reconcile what it may have missed.
 */
import type { ContainerdClient } from "./client.ts";
import type { Envelope } from "./types.ts";
import { decodeMessage } from "./_protobuf.ts";

export type TaskEvent =
  | {
    readonly type: "exit";
    readonly containerId: string;
    readonly exitStatus: number;
    readonly exitedAtMs: number;
    /** Whether the kernel's OOM killer hit the container before it exited. */
    readonly oom: boolean;
  }
  | { readonly type: "oom"; readonly containerId: string };

export const RESUBSCRIBE_DELAY_MS = 100;
/**
 * The shim reports an OOM kill asynchronously and it may arrive just after
 * the exit. An exit by SIGKILL (137) without a known OOM waits this long for
 * one before it is delivered.
 */
export const OOM_GRACE_MS = 250;
const EXIT_SIGKILL = 137;
/** Containers remembered as OOM-killed until their exit arrives. */
const OOM_REMEMBERED_MAX = 1024;

interface ExitMessage {
  containerId: string;
  id: string;
  exitStatus: number;
  exitedAt: { seconds: number; nanos: number } | null;
}

/** Decodes an envelope into a task event; undefined for other topics. */
export function decodeTaskEvent(
  envelope: Envelope,
  oomSeen: Set<string>,
): TaskEvent | undefined {
  const any = envelope.event;
  if (any === null) return undefined;
  if (envelope.topic === "/tasks/oom") {
    const { containerId } = decodeMessage(
      "containerd.events.TaskOOM",
      any.value,
    ) as {
      containerId: string;
    };
    if (oomSeen.size >= OOM_REMEMBERED_MAX) oomSeen.clear();
    oomSeen.add(containerId);
    return { type: "oom", containerId };
  }
  if (envelope.topic === "/tasks/exit") {
    const m = decodeMessage(
      "containerd.events.TaskExit",
      any.value,
    ) as ExitMessage;
    // Exits of exec'd processes carry their exec id; only the init process counts.
    if (m.id !== "" && m.id !== m.containerId) return undefined;
    const oom = oomSeen.delete(m.containerId);
    const exitedAtMs = m.exitedAt === null
      ? 0
      : m.exitedAt.seconds * 1000 + Math.floor(m.exitedAt.nanos / 1e6);
    return {
      type: "exit",
      containerId: m.containerId,
      exitStatus: m.exitStatus,
      exitedAtMs,
      oom,
    };
  }
  return undefined;
}

export interface TaskEventWatch {
  close(): Promise<void>;
}

/** Watches exit and OOM events of the client's namespace until closed. */
export function watchTaskEvents(
  client: ContainerdClient,
  onEvent: (event: TaskEvent) => void,
  options: { onResubscribe?: () => void; onError?: (error: unknown) => void } =
    {},
): TaskEventWatch {
  const filters = [
    `namespace==${client.namespace},topic=="/tasks/exit"`,
    `namespace==${client.namespace},topic=="/tasks/oom"`,
  ];
  const oomSeen = new Set<string>();
  const heldExits = new Map<
    string,
    {
      event: TaskEvent & { type: "exit" };
      timer: ReturnType<typeof setTimeout>;
    }
  >();
  let closed = false;
  let current: ReturnType<ContainerdClient["subscribe"]> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    // Runs until close(): each turn is one subscription.
    for (let turn = 0; !closed; turn++) {
      if (turn > 0) options.onResubscribe?.();
      current = client.subscribe(filters, (envelope) => {
        const event = decodeTaskEvent(envelope, oomSeen);
        if (event === undefined) return;
        if (event.type === "oom") {
          onEvent(event);
          const held = heldExits.get(event.containerId);
          if (held !== undefined) {
            clearTimeout(held.timer);
            heldExits.delete(event.containerId);
            oomSeen.delete(event.containerId);
            onEvent({ ...held.event, oom: true });
          }
          return;
        }
        if (event.exitStatus === EXIT_SIGKILL && !event.oom && !closed) {
          const timer = setTimeout(() => {
            heldExits.delete(event.containerId);
            onEvent(event);
          }, OOM_GRACE_MS);
          heldExits.set(event.containerId, { event, timer });
          return;
        }
        onEvent(event);
      });
      try {
        await current.done;
      } catch (error) {
        options.onError?.(error);
      }
      if (closed) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, RESUBSCRIBE_DELAY_MS);
      });
    }
  })();
  return {
    async close() {
      closed = true;
      current?.cancel();
      for (const held of heldExits.values()) {
        clearTimeout(held.timer);
        onEvent(held.event);
      }
      heldExits.clear();
      clearTimeout(timer);
      wake?.();
      await loop;
    },
  };
}
