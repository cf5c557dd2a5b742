/**
 * The watch stream's wire format: newline-delimited JSON, one message a
 * line. A stream opens with either the entries after the caller's index
 * (when the primary still holds them all) or a snapshot of the state, and
 * continues with every command entry as the primary applies it. `ping`
 * lines keep an idle stream observably alive.
 */
import { type Entry, SnapshotError } from "../../raft/mod.ts";

export const WATCH_PATH = "/peer/v1/watch";
/** Longest line a replica accepts: a snapshot of a large cluster. */
export const WATCH_LINE_BYTES_MAX = 64 * 1024 * 1024;
/** How often an idle stream carries a ping. */
export const WATCH_PING_MS = 5_000;

export type WatchMessage =
  | {
    readonly type: "snapshot";
    readonly index: number;
    readonly data: Uint8Array;
  }
  | { readonly type: "entry"; readonly entry: Entry }
  | { readonly type: "ping" };

function base64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function unbase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** One message as its line (with the newline). */
export function encodeWatchMessage(message: WatchMessage): string {
  switch (message.type) {
    case "snapshot":
      return JSON.stringify({
        type: "snapshot",
        index: message.index,
        data: base64(message.data),
      }) + "\n";
    case "entry":
      return JSON.stringify({
        type: "entry",
        index: message.entry.index,
        term: message.entry.term,
        data: base64(message.entry.data),
      }) + "\n";
    case "ping":
      return '{"type":"ping"}\n';
  }
}

function isIndex(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) &&
    value >= 0;
}

/** Parses one line; throws `SnapshotError("snapshot.invalid_payload")` on a malformed one. */
export function decodeWatchMessage(line: string): WatchMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw malformed("not JSON", error);
  }
  if (typeof value !== "object" || value === null) throw malformed("no object");
  const v = value as Record<string, unknown>;
  try {
    if (v.type === "ping") return { type: "ping" };
    if (
      v.type === "snapshot" && isIndex(v.index) && typeof v.data === "string"
    ) {
      return { type: "snapshot", index: v.index, data: unbase64(v.data) };
    }
    if (
      v.type === "entry" && isIndex(v.index) && isIndex(v.term) &&
      typeof v.data === "string"
    ) {
      return {
        type: "entry",
        entry: {
          index: v.index,
          term: v.term,
          kind: "command",
          data: unbase64(v.data),
        },
      };
    }
  } catch (error) {
    throw malformed("bad base64", error);
  }
  throw malformed("unknown message");
}

function malformed(what: string, cause?: unknown): SnapshotError {
  return new SnapshotError(
    "snapshot.invalid_payload",
    `Malformed watch stream line: ${what}`,
    cause === undefined ? undefined : { cause },
  );
}
