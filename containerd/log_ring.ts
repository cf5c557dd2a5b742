/**
 * A bounded per-container log: the last `linesMax` lines with their time and
 * stream. Bytes arrive in arbitrary chunks; `LineSplitter` cuts lines and
 * bounds a line's length. Pure: the caller passes the time.
 */
import { assert } from "./errors.ts";

export const LOG_LINES_MAX_DEFAULT = 1000;
/** A longer line is cut into pieces of this many bytes. */
export const LOG_LINE_BYTES_MAX = 16 * 1024;

export type LogStream = "stdout" | "stderr";

export interface LogEntry {
  readonly timeMs: number;
  readonly stream: LogStream;
  readonly line: string;
}

export class LogRing {
  readonly #entries: (LogEntry | undefined)[];
  #next = 0;
  #count = 0;
  /** Lines pushed in total, dropped ones included. */
  #total = 0;

  constructor(readonly linesMax: number = LOG_LINES_MAX_DEFAULT) {
    assert(
      Number.isSafeInteger(linesMax) && linesMax > 0,
      "a log ring holds at least one line",
    );
    this.#entries = new Array(linesMax);
  }

  push(entry: LogEntry): void {
    this.#entries[this.#next] = entry;
    this.#next = (this.#next + 1) % this.linesMax;
    this.#count = Math.min(this.#count + 1, this.linesMax);
    this.#total++;
  }

  /** Oldest first; the last `limit` lines when given. */
  entries(limit = this.linesMax): LogEntry[] {
    const n = Math.min(limit, this.#count);
    const out: LogEntry[] = [];
    for (let i = this.#count - n; i < this.#count; i++) {
      const index = (this.#next - this.#count + i + this.linesMax) %
        this.linesMax;
      const entry = this.#entries[index];
      assert(entry !== undefined, "a counted slot holds an entry");
      out.push(entry);
    }
    return out;
  }

  get size(): number {
    return this.#count;
  }

  get droppedLines(): number {
    return this.#total - this.#count;
  }
}

/** Cuts a byte stream into lines of at most LOG_LINE_BYTES_MAX bytes. */
export class LineSplitter {
  #pending = new Uint8Array(0);
  readonly #decoder = new TextDecoder();

  constructor(readonly lineBytesMax: number = LOG_LINE_BYTES_MAX) {}

  /** Feeds bytes; returns the complete lines they finish. */
  push(chunk: Uint8Array): string[] {
    const data = new Uint8Array(this.#pending.byteLength + chunk.byteLength);
    data.set(this.#pending);
    data.set(chunk, this.#pending.byteLength);
    const lines: string[] = [];
    let start = 0;
    for (let i = 0; i < data.byteLength; i++) {
      if (data[i] === 0x0a) {
        lines.push(this.#decode(data.subarray(start, i)));
        start = i + 1;
      } else if (i - start + 1 >= this.lineBytesMax) {
        lines.push(this.#decode(data.subarray(start, i + 1)));
        start = i + 1;
      }
    }
    this.#pending = data.slice(start);
    return lines;
  }

  /** The unterminated rest, at end of stream. */
  flush(): string[] {
    if (this.#pending.byteLength === 0) return [];
    const rest = this.#decode(this.#pending);
    this.#pending = new Uint8Array(0);
    return [rest];
  }

  #decode(bytes: Uint8Array): string {
    return this.#decoder.decode(bytes).replace(/\r$/, "");
  }
}
